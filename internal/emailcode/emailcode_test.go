package emailcode

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// Known answers, computed by an independent implementation of the
// derivation: codes and hashes made before a change of this package still
// verify after it (an email sent before an upgrade, typed after).
func TestKnownAnswers(t *testing.T) {
	d := New(secret(7), 6)
	if c := d.Code("sia_1", "s1"); c != "130419" {
		t.Errorf("Code = %s; want 130419", c)
	}
	if c := New(secret(7), 10).Code("sua_2", "s2"); c != "5927961751" {
		t.Errorf("10-digit Code = %s; want 5927961751", c)
	}
	b := Binding{Kind: "sign_in", FlowID: "sia_1", Address: "ada@example.com", SendID: "s1"}
	const want = "20a377ff178cf0dd9a4d650187b14ec150ddc319768a248b53713141a4acf4c1"
	if h := d.Hash(b, "123456"); h != want {
		t.Errorf("Hash = %s; want %s", h, want)
	}
}

// Every attempt of one send gets the same code; another send or another
// flow gets another.
func TestCodeOfASend(t *testing.T) {
	d := New(secret(1), 6)
	c := d.Code("sia_1", "s1")
	if d.Code("sia_1", "s1") != c || d.Code("sia_1", "s2") == c || d.Code("sia_2", "s1") == c || New(secret(2), 6).Code("sia_1", "s1") == c {
		t.Fatal("a code is not exactly its send's under its secret")
	}
}

// Codes are uniform over all 10^n: every digit in every position is as
// likely as any other, leading zeros included, and the length is always
// n. The chi-squared bound is far from the edge (a false alarm about once
// in a million runs), yet a byte taken modulo 10 (digits 0-5 drawn 26
// times in 256, 6-9 25 times) scores about 73 at this sample size.
// The code of a send is derived from its SendID, which is random.
func TestCodeUniform(t *testing.T) {
	const n, samples = 6, 200000
	d := New(secret(1), n)
	var counts [n][10]int
	var id [16]byte
	for range samples {
		rand.Read(id[:])
		c := d.Code("sia_1", hex.EncodeToString(id[:]))
		if len(c) != n {
			t.Fatalf("code %q has %d digits", c, len(c))
		}
		for i := range n {
			counts[i][c[i]-'0']++
		}
	}
	for i := range n {
		chi := 0.0
		for _, got := range counts[i] {
			d := float64(got) - samples/10
			chi += d * d / (samples / 10)
		}
		// 9 degrees of freedom: P(chi2 > 45) is about 1e-6.
		if chi > 45 {
			t.Fatalf("position %d: digit counts %v (chi2 %.1f) are not uniform", i, counts[i], chi)
		}
	}
}

// The stored hash is keyed and bound: not the code's plain SHA-256,
// different under another secret and for any other binding, and Matches
// takes exactly the code it was made of.
func TestHashAndMatches(t *testing.T) {
	d, other := New(secret(1), 6), New(secret(2), 6)
	b := Binding{Kind: "sign_in", FlowID: "sia_1", Address: "ada@example.com", SendID: "s1"}
	h := d.Hash(b, "123456")
	plain := sha256.Sum256([]byte("123456"))
	if h == hex.EncodeToString(plain[:]) || h == other.Hash(b, "123456") {
		t.Fatal("the hash is not keyed by the secret")
	}
	for _, c := range []Binding{
		{Kind: "sign_up", FlowID: "sia_1", Address: "ada@example.com", SendID: "s1"},
		{Kind: "sign_in", FlowID: "sia_2", Address: "ada@example.com", SendID: "s1"},
		{Kind: "sign_in", FlowID: "sia_1", Address: "eve@example.com", SendID: "s1"},
		{Kind: "sign_in", FlowID: "sia_1", Address: "ada@example.com", SendID: "s2"},
		// Framing: moving a character between parts is another binding.
		{Kind: "sign_i", FlowID: "nsia_1", Address: "ada@example.com", SendID: "s1"},
	} {
		if d.Hash(c, "123456") == h || d.Matches(c, "123456", h) {
			t.Errorf("binding %+v: same hash", c)
		}
	}
	if !d.Matches(b, "123456", h) || d.Matches(b, "123457", h) || other.Matches(b, "123456", h) {
		t.Fatal("Matches")
	}
	for _, stored := range []string{"", "zz", h[:62], h + "00"} {
		if d.Matches(b, "123456", stored) {
			t.Errorf("matched against stored %q", stored)
		}
	}
}
