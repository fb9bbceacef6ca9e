"""Admin password checks with throttling: a growing delay, then a lockout, per session, client and overall."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True)
class ThrottlePolicy:
    """How wrong passwords of one key (a session, a client, everybody) are slowed down and locked out.

    After failure k the next attempt waits 0 s while k <= free_failures, then base_delay * 2**(k-free-1) s
    (at most max_delay); at lockout_failures the key is locked for lockout_seconds. A key whose last
    failure is forget_after seconds old starts afresh.
    """

    free_failures: int = 2
    base_delay: float = 2.0
    max_delay: float = 60.0
    lockout_failures: int = 10
    lockout_seconds: float = 900.0
    forget_after: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 <= self.free_failures < self.lockout_failures:
            raise ValueError("free_failures must be >= 0 and below lockout_failures")
        if min(self.base_delay, self.max_delay, self.lockout_seconds, self.forget_after) <= 0:
            raise ValueError("delays, lockout and forget_after must be positive")

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after this many consecutive failures (before any lockout)."""
        if failures <= self.free_failures:
            return 0.0
        return float(min(self.max_delay, self.base_delay * 2 ** (failures - self.free_failures - 1)))


SESSION_POLICY = ThrottlePolicy()
CLIENT_POLICY = ThrottlePolicy()
# Everybody together: generous, but a guesser rotating sessions and addresses is still capped.
GLOBAL_POLICY = ThrottlePolicy(free_failures=20, base_delay=1.0, max_delay=30.0, lockout_failures=100,
                               lockout_seconds=900.0)

ADMIN_LOGIN_NOTICE = (
    f"为防止猜测密码，每次登录都会记录在服务器日志中（不记录密码）。连续输错 {SESSION_POLICY.free_failures} 次后"
    f"每次需等待更久才能再试；输错 {SESSION_POLICY.lockout_failures} 次将锁定 "
    f"{int(SESSION_POLICY.lockout_seconds // 60)} 分钟。次数按会话和客户端地址分别计算。"
)


@dataclass
class _KeyState:
    failures: int = 0
    last_failure: float = 0.0
    next_allowed: float = 0.0
    locked_until: float = 0.0


@dataclass(frozen=True)
class LoginResult:
    """One login attempt: "ok", "wrong" (checked, wrong), "wait" (too soon, not checked) or "locked"."""

    status: str
    wait_seconds: float = 0.0
    remaining: int = 0  # wrong attempts left before a lockout (the smallest over the keys)
    scope: str = ""  # "session", "client" or "all": the key that refused or is nearest a lockout
    lockout_seconds: float = 0.0  # how long the lockout that `remaining` counts towards lasts

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message(self) -> str:
        """What the login page says, in Chinese."""
        who = {"session": "本会话", "client": "您所在的网络地址", "all": "所有登录"}.get(self.scope, "本会话")
        wait = _seconds_text(self.wait_seconds)
        if self.status == "locked":
            return (f"密码错误次数过多，{who}的管理员登录已锁定，请{wait}后再试。"
                    "锁定期间即使输入正确的密码也不会登录。")
        if self.status == "wait":
            return f"尝试过于频繁：{who}需要等待 {wait}后才能再次输入密码（本次输入未被核对）。"
        if self.status == "wrong":
            text = "密码错误。"
            if self.wait_seconds > 0:
                text += f"请等待 {wait}后再试。"
            if self.remaining > 0:
                text += f"再输错 {self.remaining} 次将锁定 {_seconds_text(self.lockout_seconds)}。"
            return text
        return "登录成功。"


def _seconds_text(seconds: float) -> str:
    whole = max(1, int(-(-seconds // 1)))  # round up: never say "0 秒"
    if whole >= 120:
        return f"{-(-whole // 60)} 分钟"
    return f"{whole} 秒"


def passwords_match(typed: str, password: str) -> bool:
    """Constant-time comparison of the UTF-8 bytes."""
    return hmac.compare_digest(typed.encode("utf-8"), password.encode("utf-8"))


def client_id(ip_address: object, headers: object = None) -> str:
    """The client's address: the socket peer when known, else the first X-Forwarded-For / X-Real-IP hop.

    Headers can be forged, so they are only a fallback; the per-session and overall limits still hold.
    Values that are not text (no request context) count as unknown.
    """
    if isinstance(ip_address, str) and ip_address.strip():
        return ip_address.strip()[:64]
    lowered = {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, Mapping) else {}
    for name in ("x-forwarded-for", "x-real-ip"):
        value = lowered.get(name)
        first = value.split(",")[0].strip() if isinstance(value, str) else ""
        if first:
            return first[:64]
    return UNKNOWN_CLIENT


@dataclass
class AdminThrottle:
    """Checks admin passwords, throttling wrong attempts; thread-safe, shared by every session."""

    session_policy: ThrottlePolicy = SESSION_POLICY
    client_policy: ThrottlePolicy = CLIENT_POLICY
    global_policy: ThrottlePolicy = GLOBAL_POLICY
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 10_000
    checks: int = 0  # passwords actually compared (for tests and figures)
    _states: dict[tuple[str, str], _KeyState] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _policy(self, scope: str) -> ThrottlePolicy:
        return {"session": self.session_policy, "client": self.client_policy}.get(scope, self.global_policy)

    def _state(self, key: tuple[str, str], now: float) -> _KeyState:
        state = self._states.get(key)
        policy = self._policy(key[0])
        if state is not None and state.locked_until <= now and now - state.last_failure > policy.forget_after:
            state = None
        if state is None:
            if len(self._states) >= self.max_keys:
                self._prune(now)
            state = self._states[key] = _KeyState()
        return state

    def _prune(self, now: float) -> None:
        """Forget the oldest keys that are not locked (forged headers could otherwise add keys without end)."""
        unlocked = [k for k, s in self._states.items() if k[0] != "all" and s.locked_until <= now]
        unlocked.sort(key=lambda k: self._states[k].last_failure)
        for key in unlocked[: max(1, len(self._states) - self.max_keys // 2)]:
            del self._states[key]

    def _blocked(self, states: list[tuple[tuple[str, str], _KeyState]], now: float) -> LoginResult | None:
        blocked = [(max(s.locked_until, s.next_allowed) - now, key, s) for key, s in states
                   if max(s.locked_until, s.next_allowed) > now]
        if not blocked:
            return None
        wait, (scope, _), state = max(blocked, key=lambda b: b[0])
        return LoginResult("locked" if state.locked_until > now else "wait", wait_seconds=wait, scope=scope)

    def pending(self, session: str, client: str) -> LoginResult | None:
        """The wait or lockout a login attempt would meet now, without attempting (for the page)."""
        with self._lock:
            now = self.clock()
            return self._blocked([(k, self._states[k]) for k in self._keys(session, client) if k in self._states], now)

    @staticmethod
    def _keys(session: str, client: str) -> list[tuple[str, str]]:
        return [("session", session), ("client", client), ("all", "")]

    def attempt(self, typed: str, password: str, session: str, client: str) -> LoginResult:
        """Check typed against password unless a key must wait or is locked; record the outcome."""
        with self._lock:
            now = self.clock()
            states = [(key, self._state(key, now)) for key in self._keys(session, client)]
            refused = self._blocked(states, now)
            if refused is not None:
                log.warning("admin login refused (%s, %s): session=%s client=%s wait=%.0fs",
                            refused.status, refused.scope, session[:8], client, refused.wait_seconds)
                return refused
            self.checks += 1
            if passwords_match(typed, password):
                for key, _ in states[:2]:  # the overall count only decays with time
                    self._states.pop(key, None)
                log.info("admin login succeeded: session=%s client=%s", session[:8], client)
                return LoginResult("ok")
            failures = [s.failures + 1 for _, s in states]
            result = self._record_failure(states, now)
            log.warning("admin login failed: session=%s client=%s failures=%d/%d/%d status=%s wait=%.0fs",
                        session[:8], client, *failures, result.status, result.wait_seconds)
            return result

    def _record_failure(self, states: list[tuple[tuple[str, str], _KeyState]], now: float) -> LoginResult:
        wait, remaining, scope, locked, lockout = 0.0, -1, "session", False, 0.0
        for (key_scope, _), state in states:
            policy = self._policy(key_scope)
            state.failures += 1
            state.last_failure = now
            if state.failures >= policy.lockout_failures:
                state.locked_until = now + policy.lockout_seconds
                state.failures = 0  # after the lockout the delays start again from the beginning
                log.warning("admin login locked for %.0fs (%s)", policy.lockout_seconds, key_scope)
                if not locked or policy.lockout_seconds > wait:
                    wait, scope = policy.lockout_seconds, key_scope
                locked = True
                continue
            state.next_allowed = now + policy.delay_after(state.failures)
            left = policy.lockout_failures - state.failures
            if not locked:
                if state.next_allowed - now > wait:
                    wait = state.next_allowed - now
                if remaining < 0 or left < remaining:
                    remaining, scope, lockout = left, key_scope, policy.lockout_seconds
        if locked:
            return LoginResult("locked", wait_seconds=wait, scope=scope)
        return LoginResult("wrong", wait_seconds=wait, remaining=max(remaining, 0), scope=scope,
                           lockout_seconds=lockout)


_SHARED: dict[str, AdminThrottle] = {}
_SHARED_LOCK = threading.Lock()


def shared_throttle(scope: str) -> AdminThrottle:
    """The one throttle of this process for scope (e.g. the index folder): every session shares it."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(scope, AdminThrottle())
