"""The admin console: pages for admins to run the service (`/admin/...`)."""
