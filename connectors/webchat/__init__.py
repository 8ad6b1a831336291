"""The web chat widget: visitors on any site talk to an inbox over a websocket.

`protocol.py` is the socket's state machine (pure), `tokens.py` the visitors' signed
sessions (pure), `service.py` the chat's data (settings per inbox, visitors, the sequence
of messages a visitor sees), `send.py` how agent replies reach the visitor (the socket,
else email) and the transcript mailed on close. The asyncio driver is `web/widget/`.
"""
