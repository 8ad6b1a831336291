"""The pages people use: login, the inbox, a conversation."""
