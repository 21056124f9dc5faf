"""The training queue: one job at a time for the whole server, fair between visitors, bounded, with each
job's own stop flag; and the visitor's address as the trusted proxies saw it."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from . import messages

MAX_WAITING = 8  # jobs that wait behind the running one; more are refused with the expected wait


class Refused(ValueError):
    """A training request the queue does not take; the message says why and what to do."""


@dataclass(eq=False)
class Ticket:
    """One job's place in the queue: who owns it, its estimate, and its own stop flag."""
    session: str
    address: str
    estimate_s: float
    left_s: float
    started: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


class TrainQueue:
    """One training job at a time for the whole server, first come first served, fair and bounded: at
    most one queued or running job per session and per client address, at most `capacity` jobs in all
    (the running one included). A waiting visitor holds a ticket and can ask for its place and the
    expected wait: what the running job has left (from its own ETA) plus the estimates of the jobs ahead.
    Each ticket carries its own stop flag, so a job is stopped by its owner's session only."""

    def __init__(self, capacity: int = 1 + MAX_WAITING):
        self.capacity = capacity
        self._cond = threading.Condition()
        self._tickets: list[Ticket] = []  # [0] runs once started; the rest wait in order

    def join(self, estimate_s: float, session: str = "anon", address: str = "local") -> Ticket:
        """A ticket for a new job; Refused where this session or address already has one, or the
        queue is full (with the expected wait)."""
        with self._cond:
            if any(t.session == session for t in self._tickets):
                raise Refused(messages.ALREADY_QUEUED)
            if any(t.address == address for t in self._tickets):
                raise Refused(messages.ADDRESS_QUEUED)
            if len(self._tickets) >= self.capacity:
                wait = sum(t.left_s if t.started else t.estimate_s for t in self._tickets[:1])
                raise Refused(messages.queue_full(len(self._tickets), wait))
            ticket = Ticket(session=session, address=address, estimate_s=float(estimate_s), left_s=float(estimate_s))
            self._tickets.append(ticket)
            return ticket

    def place(self, ticket: Ticket) -> int:
        """0: this ticket's job may run (or runs); k: k jobs are ahead of it."""
        with self._cond:
            return self._tickets.index(ticket)

    def wait_s(self, ticket: Ticket) -> float:
        """Seconds until this ticket's job should start."""
        with self._cond:
            ahead = self._tickets[: self._tickets.index(ticket)]
            return sum(t.left_s if t.started else t.estimate_s for t in ahead)

    def wait_turn(self, ticket: Ticket, timeout: float) -> bool:
        """Wait up to timeout seconds for this ticket's turn; True once it has come (the job starts)."""
        with self._cond:
            if self._cond.wait_for(lambda: self._tickets.index(ticket) == 0, timeout):
                ticket.started = True
                return True
            return False

    def update(self, ticket: Ticket, left_s: float) -> None:
        """The running job's own estimate of what it has left (its ETA)."""
        with self._cond:
            ticket.left_s = max(0.0, float(left_s))

    def leave(self, ticket: Ticket) -> None:
        """Done, stopped, or given up waiting (a closed tab): the next job may start."""
        with self._cond:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._cond.notify_all()

    def request_stop(self, session: str) -> bool:
        """Stop this session's job (queued or running) at its next step; False when it has none."""
        with self._cond:
            mine = [t for t in self._tickets if t.session == session]
        for t in mine:
            t.stop.set()
        return bool(mine)

    def busy(self) -> bool:
        with self._cond:
            return bool(self._tickets)


QUEUE = TrainQueue()


def client_address(peer: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The visitor's address as the last trusted proxy saw it. Behind proxy_hops reverse proxies (a
    Hugging Face Space has one), each appends the address it received the request from to
    X-Forwarded-For, so the entry proxy_hops from the right was written by a proxy we trust; entries to
    its left are whatever the client sent and are ignored (a forged header cannot change the address).
    Without proxies the header is ignored entirely."""
    if proxy_hops > 0 and forwarded_for:
        hops = [h.strip() for h in str(forwarded_for).split(",") if h.strip()]
        if len(hops) >= proxy_hops:
            return hops[-proxy_hops][:64]
    return (peer or "unknown")[:64]
