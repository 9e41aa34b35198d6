// Package keyring encrypts credentials at rest — ThingSpeak read keys,
// webhook secrets — with AES-256-GCM under keys named by a key id, so that
// keys can rotate: every ciphertext is stored beside the id of the key that
// sealed it, new data is sealed under the active (first) key, and older keys
// stay listed for decryption until `evara keys rotate` has re-sealed
// everything under the active one.
//
// The key material comes from EVARA_ENCRYPTION_KEY:
//
//	EVARA_ENCRYPTION_KEY=k2:<base64 32 bytes>,k1:<base64 32 bytes>
//
// (active first; a bare "<base64>" entry gets the id "k" + 8 hex digits of
// its SHA-256). A Keyring is immutable and safe for concurrent use; it
// never logs and its errors never contain key material or plaintext.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

var (
	// ErrUnknownKey: the ciphertext names a key id this keyring does not hold.
	ErrUnknownKey = errors.New("keyring: unknown key id")
	// ErrDecrypt: the ciphertext was altered, belongs to another record, or the key is wrong.
	ErrDecrypt = errors.New("keyring: ciphertext does not authenticate")
)

// Keyring holds the active key and the older keys still accepted for decryption.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
	order  []string
}

// Parse reads a key specification (see the package doc).
func Parse(spec string) (*Keyring, error) {
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, encoded, named := strings.Cut(part, ":")
		if !named {
			id, encoded = "", part
		}
		key, err := decodeKey(encoded)
		if err != nil {
			return nil, fmt.Errorf("keyring: entry %d: %w", i+1, err)
		}
		if id == "" {
			sum := sha256.Sum256(key)
			id = "k" + hex.EncodeToString(sum[:4])
		}
		if err := kr.add(id, key); err != nil {
			return nil, err
		}
	}
	if kr.active == "" {
		return nil, errors.New("keyring: no key given")
	}
	return kr, nil
}

// New builds a keyring from raw keys, the first one active.
func New(keys map[string][]byte, active string) (*Keyring, error) {
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	if _, ok := keys[active]; !ok {
		return nil, errors.New("keyring: the active key id is not among the keys")
	}
	if err := kr.add(active, keys[active]); err != nil {
		return nil, err
	}
	for id, key := range keys {
		if id != active {
			if err := kr.add(id, key); err != nil {
				return nil, err
			}
		}
	}
	return kr, nil
}

func (kr *Keyring) add(id string, key []byte) error {
	if !validID(id) {
		return fmt.Errorf("keyring: key id %q must be 1-32 letters, digits, '-' or '_'", id)
	}
	if _, dup := kr.aeads[id]; dup {
		return fmt.Errorf("keyring: key id %q given twice", id)
	}
	if len(key) != KeySize {
		return fmt.Errorf("keyring: key %q is %d bytes, want %d", id, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("keyring: key %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("keyring: key %q: %w", id, err)
	}
	kr.aeads[id] = aead
	kr.order = append(kr.order, id)
	if kr.active == "" {
		kr.active = id
	}
	return nil
}

func decodeKey(s string) ([]byte, error) {
	// 64 hex digits are also valid base64 (of 48 bytes), so hex goes first.
	if key, err := hex.DecodeString(s); err == nil && len(key) == KeySize {
		return key, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("key is %d bytes, want %d (generate one with: head -c 32 /dev/urandom | base64)", len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, errors.New("key is neither base64 nor hex of 32 bytes")
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		return !alnum && r != '-' && r != '_'
	}) < 0
}

// ActiveID is the id of the key that Seal uses.
func (kr *Keyring) ActiveID() string { return kr.active }

// IDs lists the key ids, active first.
func (kr *Keyring) IDs() []string { return append([]string(nil), kr.order...) }

// Seal encrypts plaintext under the active key. aad binds the ciphertext to
// its record (e.g. the node id): it must be given again to Open, so a
// ciphertext copied to another record does not decrypt. The result is
// nonce || sealed data.
func (kr *Keyring) Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error) {
	aead := kr.aeads[kr.active]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	return kr.active, aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts a ciphertext sealed under keyID with the same aad.
func (kr *Keyring) Open(keyID string, ciphertext, aad []byte) ([]byte, error) {
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrDecrypt
	}
	nonce, sealed := ciphertext[:aead.NonceSize()], ciphertext[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, sealed, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// Reseal re-encrypts a ciphertext under the active key (key rotation). It
// reports false when the ciphertext already uses the active key.
func (kr *Keyring) Reseal(keyID string, ciphertext, aad []byte) (newID string, newCiphertext []byte, changed bool, err error) {
	if keyID == kr.active {
		return keyID, ciphertext, false, nil
	}
	plaintext, err := kr.Open(keyID, ciphertext, aad)
	if err != nil {
		return "", nil, false, err
	}
	newID, newCiphertext, err = kr.Seal(plaintext, aad)
	clear(plaintext)
	return newID, newCiphertext, err == nil, err
}
