"""HTTP client for the order system (the sandbox or a real one, by configuration).

Services are synchronous and run in worker threads, so this uses a sync
``httpx.Client``. Every call is an idempotent GET, which is why retrying timeouts,
connection failures and 5xx is safe; bounded attempts with exponential backoff keep
a sick order system from stalling the app. Whatever goes wrong — down, slow, or a
payload our rules cannot trust — callers see one stable error,
``ORDER_SYSTEM_UNAVAILABLE``, with the cause chained for the logs. Successful
lookups are cached in the KV store (Redis when configured) for a short time, encrypted
with the data keyring (AAD ``cache:orders``): an order holds the customer's payment
reference, which the cache must not hold in the clear. A cached value that no longer
decrypts (its key was rotated out) is simply a miss.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx

from support_app.domain.errors import DomainError, ErrorCode
from support_app.integrations.order_data import OrderData
from support_app.kv import KV, get_kv
from support_app.security.crypto import Keyring, get_keyring
from support_app.settings import get_settings

logger = logging.getLogger(__name__)
CACHE_AAD = "cache:orders"

# Transient transport failures worth another try on an idempotent GET.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class _NotFound(Exception):
    """Internal signal for a 404, which is an answer rather than a failure."""


class OrderClient:
    """Reads orders; returns frozen OrderData values or raises DomainError."""

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float,
        retries: int = 2,
        backoff_seconds: float = 0.1,
        kv: KV | None = None,
        cache_seconds: int = 30,
        transport: httpx.BaseTransport | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._keyring = keyring  # None: the app's keyring (security/crypto.get_keyring)
        self.retries = max(0, retries)
        self.backoff_seconds = backoff_seconds
        self.kv = kv
        self.cache_seconds = cache_seconds
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "OrderClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------

    def list_customer_orders(self, customer_id: str) -> list[OrderData]:
        """All orders of one customer, newest first as the order system returns them."""
        key = f"orders:customer:{customer_id}"
        cached = self._cache_get(key)
        if cached is not None:
            try:
                return [OrderData.from_json(item) for item in cached]
            except (ValueError, TypeError):
                self._cache_delete(key)
        path = f"customers/{quote(customer_id, safe='')}/orders"
        try:
            payload = self._get_json(path)
        except _NotFound:
            return []  # an unknown customer simply has no orders
        try:
            raw = payload["orders"] if isinstance(payload, dict) else None
            if not isinstance(raw, list):
                raise ValueError("expected {'orders': [...]}")
            orders = [OrderData.from_json(item) for item in raw]
            if any(order.customer_id != customer_id for order in orders):
                raise ValueError("order system returned another customer's order")
        except ValueError as exc:
            raise self._malformed(path, exc) from exc
        self._cache_set(key, [order.to_json() for order in orders])
        for order in orders:
            self._cache_set(f"orders:order:{order.order_id}", order.to_json())
        return orders

    def get_order(self, order_id: str, *, fresh: bool = False) -> OrderData | None:
        """One order, or None if the order system does not know it (404). ``fresh`` asks
        the order system even if the cache holds the order (the answer is cached again):
        facts that decide money (is it delivered yet?) are never a cache's."""
        key = f"orders:order:{order_id}"
        cached = None if fresh else self._cache_get(key)
        if cached is not None:
            try:
                return OrderData.from_json(cached)
            except (ValueError, TypeError):
                self._cache_delete(key)
        path = f"orders/{quote(order_id, safe='')}"
        try:
            payload = self._get_json(path)
        except _NotFound:
            return None  # not cached: the order may appear a moment later
        try:
            order = OrderData.from_json(payload)
            if order.order_id != order_id:
                raise ValueError("order system returned a different order")
        except ValueError as exc:
            raise self._malformed(path, exc) from exc
        self._cache_set(key, order.to_json())
        return order

    # -- HTTP with bounded retries ----------------------------------------------

    def _get_json(self, path: str) -> Any:
        """GET with retries; returns parsed JSON, raises _NotFound or DomainError."""
        attempts = self.retries + 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_seconds * (2 ** (attempt - 1)))
            try:
                response = self._http.get(path)
            except RETRYABLE_ERRORS as exc:
                last = exc
                continue
            except httpx.HTTPError as exc:  # e.g. a bad URL: retrying will not help
                raise self._unavailable(path, attempt + 1, exc) from exc
            if response.status_code == 404:
                raise _NotFound(path)
            if response.status_code >= 500:
                last = httpx.HTTPStatusError(
                    f"order system answered {response.status_code}", request=response.request, response=response
                )
                continue
            if response.status_code >= 400:
                exc = httpx.HTTPStatusError(
                    f"order system refused with {response.status_code}", request=response.request, response=response
                )
                raise self._unavailable(path, attempt + 1, exc) from exc
            try:
                return response.json()
            except ValueError as exc:  # JSONDecodeError and bad encodings
                raise self._malformed(path, exc) from exc
        assert last is not None
        raise self._unavailable(path, attempts, last) from last

    def _unavailable(self, path: str, attempts: int, cause: Exception) -> DomainError:
        logger.warning(
            "order system unavailable: GET %s failed after %d attempt(s): %s: %s",
            path, attempts, type(cause).__name__, cause,
        )
        return DomainError(ErrorCode.ORDER_SYSTEM_UNAVAILABLE)

    def _malformed(self, path: str, cause: Exception) -> DomainError:
        logger.warning("order system returned a malformed payload for GET %s: %s", path, cause)
        return DomainError(ErrorCode.ORDER_SYSTEM_UNAVAILABLE)

    # -- cache: best effort; a broken cache must not break order lookups --------

    def _cache_get(self, key: str) -> Any:
        if self.kv is None:
            return None
        try:
            raw = self.kv.get(key)
            return None if raw is None else json.loads((self._keyring or get_keyring()).decrypt(raw, CACHE_AAD))
        except Exception as exc:  # noqa: BLE001 — Redis down, garbage or an old key: fall back to HTTP
            logger.warning("order cache read failed for %s: %s", key, exc)
            return None

    def _cache_set(self, key: str, value: Any) -> None:
        if self.kv is None or self.cache_seconds <= 0:
            return
        try:
            sealed = (self._keyring or get_keyring()).encrypt(json.dumps(value, separators=(",", ":")), CACHE_AAD)
            self.kv.set(key, sealed, self.cache_seconds)
        except Exception as exc:  # noqa: BLE001
            logger.warning("order cache write failed for %s: %s", key, exc)

    def _cache_delete(self, key: str) -> None:
        if self.kv is None:
            return
        try:
            self.kv.delete(key)
        except Exception as exc:  # noqa: BLE001
            logger.warning("order cache delete failed for %s: %s", key, exc)


@lru_cache
def get_order_client() -> OrderClient:
    """The process-wide client built from settings, sharing one connection pool."""
    settings = get_settings()
    return OrderClient(
        settings.order_system_url,
        settings.order_timeout_seconds,
        kv=get_kv(),
        cache_seconds=settings.order_cache_seconds,
    )
