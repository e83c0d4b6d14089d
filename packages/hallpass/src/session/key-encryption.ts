// Private signing keys at rest: AES-256-GCM under the key-encryption key, with the kid as
// associated data so a ciphertext cannot be moved to another key's slot. A wrong secret fails
// GCM authentication and becomes a clear ERR_SECRET_INVALID, never garbage keys.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { SecretInvalid } from '../errors.ts'

export interface EncryptedBlob {
  readonly iv: string
  readonly ct: string
  readonly tag: string
}

export function encryptWithKek(kek: Buffer, plaintext: string, aad: string): EncryptedBlob {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', kek, iv)
  cipher.setAAD(Buffer.from(aad))
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return { iv: iv.toString('base64url'), ct: ct.toString('base64url'), tag: cipher.getAuthTag().toString('base64url') }
}

export function decryptWithKek(kek: Buffer, blob: EncryptedBlob, aad: string): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(blob.iv, 'base64url'))
    decipher.setAAD(Buffer.from(aad))
    decipher.setAuthTag(Buffer.from(blob.tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(blob.ct, 'base64url')), decipher.final()]).toString('utf8')
  } catch (cause) {
    throw new SecretInvalid('cannot decrypt the stored signing keys: is HALLPASS_SECRET the one they were created with?', { cause })
  }
}
