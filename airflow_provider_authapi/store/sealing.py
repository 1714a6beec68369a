"""Why the token record is sealed with Airflow's Fernet key, and the `Sealer` that does it.

The problem: Airflow's Variables page redacts a Variable whose KEY contains a sensitive word (`token`, `secret`,
...: `airflow/_shared/secrets_masker`) and, inside a JSON value, the values of sensitive nested keys. Its edit
form holds that redacted JSON and a Save writes it back: one unchanged Save of the old record
(`authapi_token_<conn>`, `{"token": {"access_token": ...}}`) replaced every secret by `***`, and a rotating
refresh token, whose only live copy was there, was lost for good.

Designs weighed:
- Detect and recover only (keep the masked name): the page stays harmless to look at, but a Save still destroys
  the refresh token; recovery means a new consent for authorization code connections.
- A second copy elsewhere (another Variable, the description): the same page edits those too.
- Hide the secrets under innocent key names in plain text: the page would show live tokens to every viewer.
- Chosen: the record lives under `authapi_cache_<conn>` (no sensitive word) with innocent JSON keys, its secrets
  encrypted by us with Airflow's Fernet key (`sealed`). The page shows ciphertext (no secret), a Save writes the
  same text back, and the record reads as before. Fernet authenticates, so any edit of the sealed part is
  detected, never decrypted into a garbage token. Every process that reads the record has the key: tasks and the
  triggerer read `[core] fernet_key` from the same configuration (`airflow.sdk.crypto` on 3.2+,
  `airflow.models.crypto` on 3.1), the API server and the CLI need it for Variables anyway. A `MultiFernet` key
  list keeps old records readable through a key rotation; a record sealed with a key that is gone is damaged
  (Clear). A process without a key (an empty `fernet_key`: Airflow stores Variables in plain text then) writes
  the secrets under `secrets`, a name the masker hides: such a record is detected as damaged after a Save.
- Left as is: a connection id that itself contains a sensitive word makes the whole Variable name sensitive, so
  the page masks the record and a Save damages it (detected, Clear fixes it). A name derived from a digest would
  avoid that but hide which connection a Variable belongs to.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _airflow_fernet() -> Any:
    """Airflow's Fernet (a MultiFernet over `[core] fernet_key`): the Task SDK's from 3.2, core's before."""
    try:
        from airflow.sdk.crypto import get_fernet
    except ImportError:  # Airflow 3.1: core's, which reads the same configuration
        from airflow.models.crypto import get_fernet
    return get_fernet()


class AirflowFernetSealer:
    """Seals with Airflow's Fernet key, looked up on first use (not when a hook is built at parse time)."""

    def seal(self, data: bytes) -> str | None:
        fernet = _airflow_fernet()
        if not getattr(fernet, "is_encrypted", False):
            return None
        return fernet.encrypt(data).decode("ascii")

    def unseal(self, text: str) -> bytes:
        fernet = _airflow_fernet()
        if not getattr(fernet, "is_encrypted", False):
            raise ValueError("this process has no Fernet key ([core] fernet_key)")
        try:
            return fernet.decrypt(text.encode("utf-8"))
        except Exception as exc:  # cryptography's InvalidToken: edited, truncated, or another key
            raise ValueError(f"edited, or sealed with another Fernet key: {type(exc).__name__}") from None
