"""The baseline for bench_api: a bare FastAPI endpoint, no auth, no database."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/api/v1/me")
def me() -> dict[str, str]:
    return {"id": "0" * 32, "name": "n", "email": "e@example.org", "username": "u"}
