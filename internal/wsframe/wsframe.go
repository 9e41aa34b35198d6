// Package wsframe encodes WebSocket frames as a client sends them (RFC 6455
// §5.2–5.3: masked, with the shortest length encoding), for the load
// generator of `evara bench ws` and for tests that speak WebSocket at the
// byte level. The server's side is api/ws.
package wsframe

import (
	"crypto/rand"
	"encoding/binary"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xa
)

// AppendClient appends a client frame of opcode op carrying payload,
// masked with a random key, to dst; fin ends the message.
func AppendClient(dst []byte, op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	dst = append(dst, b0)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	dst = append(dst, key[:]...)
	for i, c := range payload {
		dst = append(dst, c^key[i&3])
	}
	return dst
}
