"""A small real DNS server for the discovery tests, written with dnspython.

It answers UDP queries on one address of the loopback (127.0.0.1 and a free
port by default) from records the test sets and changes while clients ask:
A, AAAA and SRV. A name it does not know gets NXDOMAIN; a known name without
records of the type asked gets an empty NOERROR answer. `garbage = True`
makes it answer bytes that are no DNS message; `delay` makes every answer
late. It runs in a daemon thread, bounds every wait, and is stopped by the
test (a context manager).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .servers import LOCALHOST

MAX_DELAY = 5.0


class DNSServer:
    """A DNS server on `address:port` (port 0: a free one) with set records."""

    def __init__(self, address: str = LOCALHOST, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, list[Any]]] = {}
        self.queries = 0
        self.garbage = False
        self.delay = 0.0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((address, port))
        self._socket.settimeout(0.05)
        self.address = address
        self.port = self._socket.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # Records ----------------------------------------------------------------

    def set(self, name: str, kind: str, values: list[Any]) -> None:
        """Replace `name`'s records of `kind` ("A", "AAAA" or "SRV": SRV
        values are `(priority, weight, port, target)`)."""
        with self._lock:
            self._records.setdefault(_key(name), {})[kind] = list(values)

    def forget(self, name: str) -> None:
        """Drop every record of `name`: it becomes unknown (NXDOMAIN)."""
        with self._lock:
            self._records.pop(_key(name), None)

    # Serving ----------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                wire, client = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.queries += 1
                delay, garbage = min(self.delay, MAX_DELAY), self.garbage
            if delay:
                time.sleep(delay)
            try:
                reply = b"\x00garbage" if garbage else self._answer(wire)
                self._socket.sendto(reply, client)
            except Exception:  # a malformed query, or closed meanwhile
                continue

    def _answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            known = self._records.get(name)
            values = list(known.get(kind, [])) if known is not None else []
        if known is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        texts = [_text(kind, value) for value in values]
        if texts:
            rrset = dns.rrset.from_text_list(
                question.name, 0, dns.rdataclass.IN, question.rdtype, texts
            )
            response.answer.append(rrset)
        return response.to_wire()

    def stop(self) -> None:
        """Stop answering and release the port."""
        self._stopped.set()
        self._thread.join(5)
        self._socket.close()

    def __enter__(self) -> DNSServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _key(name: str) -> str:
    return dns.name.from_text(name).to_text().lower()


def _text(kind: str, value: Any) -> str:
    if kind == "SRV":
        priority, weight, port, target = value
        return f"{priority} {weight} {port} {target}"
    return str(value)
