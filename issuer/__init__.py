"""The issuer: signing keys, batch generation, export. Never imported by the web app."""
