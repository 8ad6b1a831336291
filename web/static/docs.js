// Starts Swagger UI on /docs from this file rather than an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'. Everything loads from this server.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
