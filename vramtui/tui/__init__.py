"""The Textual app: four screens over one live scenario."""
