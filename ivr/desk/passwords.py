"""Password hashes: argon2id from argon2-cffi. Hashing takes ~50 ms of CPU on purpose, so
it runs in a thread: the desk's event loop keeps serving other agents meanwhile."""
from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, encoded: str | None, password: str) -> bool:
        """True if `password` matches. With no hash (unknown user) a dummy hash is checked,
        so that an unknown name takes as long as a wrong password (no user enumeration)."""
        if encoded is None:
            if self._dummy is None:
                self._dummy = await self.hash("not anybody's password")
            encoded = self._dummy
            password = password + "\0"          # never matches the dummy
        return await asyncio.to_thread(self._verify, encoded, password)

    def _verify(self, encoded: str, password: str) -> bool:
        try:
            return self.hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """The hash was made with other parameters than today's: hash again at sign-in."""
        return self.hasher.check_needs_rehash(encoded)
