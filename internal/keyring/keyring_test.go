package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

func TestSealOpenAndRotate(t *testing.T) {
	old, err := Parse("k1:" + b64(key(1)))
	if err != nil {
		t.Fatal(err)
	}
	id, ct, err := old.Seal([]byte("READKEY123"), []byte("node-a"))
	if err != nil || id != "k1" {
		t.Fatalf("Seal: %q %v", id, err)
	}
	if bytes.Contains(ct, []byte("READKEY123")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	_, ct2, _ := old.Seal([]byte("READKEY123"), []byte("node-a"))
	if bytes.Equal(ct, ct2) {
		t.Fatal("two seals of one plaintext are identical: nonce reuse")
	}

	rotated, err := Parse("k2:" + b64(key(2)) + ", k1:" + b64(key(1)))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ActiveID() != "k2" || strings.Join(rotated.IDs(), ",") != "k2,k1" {
		t.Fatalf("active %s ids %v", rotated.ActiveID(), rotated.IDs())
	}
	pt, err := rotated.Open(id, ct, []byte("node-a"))
	if err != nil || string(pt) != "READKEY123" {
		t.Fatalf("old ciphertext after rotation: %q %v", pt, err)
	}
	newID, newCT, changed, err := rotated.Reseal(id, ct, []byte("node-a"))
	if err != nil || !changed || newID != "k2" {
		t.Fatalf("Reseal: %s %v %v", newID, changed, err)
	}
	if _, _, changed, _ := rotated.Reseal(newID, newCT, []byte("node-a")); changed {
		t.Fatal("resealing a current ciphertext changed it")
	}
	if _, err := old.Open(newID, newCT, []byte("node-a")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring on new ciphertext: %v", err)
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	kr, _ := Parse(b64(key(3)))
	id, ct, _ := kr.Seal([]byte("secret"), []byte("node-a"))
	flipped := append([]byte(nil), ct...)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		ct  []byte
		aad string
	}{
		"other record": {ct, "node-b"},
		"flipped bit":  {flipped, "node-a"},
		"truncated":    {ct[:10], "node-a"},
		"empty":        {nil, "node-a"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := kr.Open(id, tc.ct, []byte(tc.aad)); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("want ErrDecrypt, got %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	secret := b64(key(9))[:20]
	for _, spec := range []string{"", " , ", "k1:" + b64(key(1)[:16]), "k1:not-base64!!", "bad id:" + b64(key(1)), "k1:" + b64(key(1)) + ",k1:" + b64(key(2)), "k1:" + secret} {
		_, err := Parse(spec)
		if err == nil {
			t.Errorf("Parse(%q) accepted", spec)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks key material: %v", err)
		}
	}
	kr, err := Parse(strings.Repeat("ab", KeySize)) // hex
	if err != nil || !strings.HasPrefix(kr.ActiveID(), "k") {
		t.Fatalf("hex key: %v", err)
	}
}
