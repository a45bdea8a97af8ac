"""KMS encryption of token sets, bound to their connection by the encryption context.

The context ``{org_id, tenant_id}`` means a ciphertext copied onto another connection's item does not
decrypt, and every Decrypt in CloudTrail says which connection it was for. A token set is well under KMS's
4 KB plaintext limit (a Xero access token is a ~1.5 KB JWT), so direct ``Encrypt`` is enough.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws import clients
from xero_bridge.errors import TokenCipherError
from xero_bridge.models.connection import StoredTokens

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

__all__ = ["KmsTokenCipher"]


class KmsTokenCipher:
    """Encrypt and decrypt :class:`StoredTokens` with one KMS key.

    Parameters
    ----------
    key_id : str
        Key id, ARN or alias (``TOKEN_KEY_ID``).
    client : KMSClient, optional
        A KMS client; the container's shared one is created on first use when omitted.
    """

    def __init__(self, key_id: str, client: KMSClient | None = None) -> None:
        self._key_id = key_id
        self._client = client

    @property
    def client(self) -> KMSClient:
        if self._client is None:
            self._client = clients.kms()
        return self._client

    def encrypt(self, tokens: StoredTokens, *, org_id: str, tenant_id: str) -> bytes:
        try:
            response = self.client.encrypt(
                KeyId=self._key_id,
                Plaintext=tokens.to_plaintext(),
                EncryptionContext={"org_id": org_id, "tenant_id": tenant_id},
            )
        except ClientError as exc:
            raise TokenCipherError(f"KMS could not encrypt the token set: {_code(exc)}") from exc
        return response["CiphertextBlob"]

    def decrypt(self, ciphertext: bytes, *, org_id: str, tenant_id: str) -> StoredTokens:
        try:
            response = self.client.decrypt(
                KeyId=self._key_id,
                CiphertextBlob=ciphertext,
                EncryptionContext={"org_id": org_id, "tenant_id": tenant_id},
            )
        except ClientError as exc:
            raise TokenCipherError(f"KMS could not decrypt the token set: {_code(exc)}") from exc
        return StoredTokens.from_plaintext(response["Plaintext"])


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))
