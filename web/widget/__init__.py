"""The chat widget's web side: `/widget.js` (the script a site embeds) and `/chat/socket`
(its websocket, driving `connectors.webchat.protocol`)."""
