"""The peer for bench/forms_ingest.py: a FastAPI endpoint that only answers 201."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/forms/contact")
async def accept(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"ticket_number": None}, status_code=201)


@app.get("/readyz")
async def ready() -> dict:
    return {"status": "ok"}
