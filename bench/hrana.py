"""A persistent Hrana-over-HTTP client: one keep-alive http.client connection, `POST
/v2/pipeline` with one `execute` and a `close` per request (a fresh Hrana stream each time,
unless keep_stream), so a sample measures one request round trip and no process or TCP start."""

from __future__ import annotations

import http.client
import json
import time


class HranaError(RuntimeError):
    pass


class Conn:
    def __init__(
        self, url: str, token: str, timeout: float = 30, keep_stream: bool = False
    ) -> None:
        """keep_stream: keep one Hrana stream open (send its baton back) instead of a
        fresh stream per request."""
        self.keep_stream = keep_stream
        self.baton: str | None = None
        host, port = url.removeprefix("http://").split(":")
        self._args = (host, int(port))
        self._timeout = timeout
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "Connection": "keep-alive",
        }
        self._conn = http.client.HTTPConnection(*self._args, timeout=timeout)

    def execute(self, sql: str, args: list | None = None) -> list[list]:
        """Rows of one statement (values as Hrana gives them: {type, value})."""
        stmt: dict = {"sql": sql}
        if args is not None:
            stmt["args"] = args
        requests: list[dict] = [{"type": "execute", "stmt": stmt}]
        payload: dict = {"requests": requests}
        if self.keep_stream:
            payload["baton"] = self.baton
        else:
            requests.append({"type": "close"})
        reply = self._post(payload)
        self.baton = reply.get("baton")
        result = reply["results"][0]
        if result["type"] != "ok":
            raise HranaError(f"{sql!r}: {result.get('error')}")
        return result["response"]["result"]["rows"]

    def pipeline(self, requests: list[dict]) -> list[dict]:
        """The `response.result` of each Hrana stream request (execute, batch), on a fresh
        stream closed after them: the whole result, `replication_index` included."""
        reply = self._post({"requests": [*requests, {"type": "close"}]})
        out = []
        for result in reply["results"][: len(requests)]:
            if result["type"] != "ok":
                raise HranaError(str(result.get("error")))
            out.append(result["response"]["result"])
        return out

    def _post(self, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        for attempt in range(2):  # one retry if the server closed an idle keep-alive
            try:
                self._conn.request("POST", "/v2/pipeline", body, self._headers)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                self._conn = http.client.HTTPConnection(*self._args, timeout=self._timeout)
                if attempt:
                    raise
        if resp.status != 200:
            raise HranaError(f"HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data)

    def timed(self, sql: str, args: list | None = None) -> float:
        started = time.perf_counter()
        self.execute(sql, args)
        return time.perf_counter() - started

    def close(self) -> None:
        self._conn.close()


def text(value: str) -> dict:
    return {"type": "text", "value": value}


def integer(value: int) -> dict:
    return {"type": "integer", "value": str(value)}
