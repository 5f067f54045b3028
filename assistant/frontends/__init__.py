"""The front ends, thin layers over the Python API (assistant.api): the command line, the web
UI and the HTML it renders, and the server (REST, OpenAI-compatible chat, the UI mounted)."""
