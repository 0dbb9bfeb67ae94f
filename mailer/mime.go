package mailer

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
)

// WriteMIME writes msg to w as one RFC 5322 message with CRLF line endings:
// Date (from now), From, To, Subject, a fresh Message-ID, MIME-Version,
// Auto-Submitted (RFC 3834, so auto-responders stay quiet) and a body that is
// multipart/alternative (text/plain, then text/html) or, when msg.HTML is
// empty, text/plain alone. Bodies are UTF-8, quoted-printable; a Subject that
// is not plain ASCII is encoded as RFC 2047 words; long Subjects are folded.
//
// msg.From must be set (a mailer fills in its default sender first). msg is
// validated first (see Message.Validate) and nothing is written when it is
// invalid, so no CR or LF from any field can ever start a header of its own.
// The message is composed in memory and written with a single Write.
//
// It is the one composition path of the smtp and maildir mailers.
func WriteMIME(w io.Writer, msg *Message, now time.Time) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	if msg.From == "" {
		return fmt.Errorf("%w: from: empty", ErrInvalidMessage)
	}
	from, err := ParseFrom(msg.From)
	if err != nil {
		return err
	}
	to, err := ParseTo(msg.To)
	if err != nil {
		return err
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(foldHeader(name, value)) }
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", to.String())
	header("Subject", encodeSubject(msg.Subject))
	header("Message-ID", "<"+strings.ToLower(rand.Text())+"@"+messageIDDomain(from.Address)+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")

	if msg.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, msg.Text); err != nil {
			return err
		}
	} else {
		mw := multipart.NewWriter(&b)
		header("Content-Type", mime.FormatMediaType("multipart/alternative",
			map[string]string{"boundary": mw.Boundary()}))
		b.WriteString("\r\n")
		for _, part := range []struct{ typ, body string }{
			{"text/plain; charset=utf-8", msg.Text},
			{"text/html; charset=utf-8", msg.HTML},
		} {
			pw, err := mw.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {part.typ},
				"Content-Transfer-Encoding": {"quoted-printable"},
			})
			if err != nil {
				return err
			}
			if err := writeQP(pw, part.body); err != nil {
				return err
			}
		}
		if err := mw.Close(); err != nil {
			return err
		}
	}
	_, err = w.Write(b.Bytes())
	return err
}

// writeQP writes s quoted-printable, ending with a line break. Line endings
// in s (LF, CRLF or CR) become CRLF.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	if !strings.HasSuffix(s, "\n") {
		if _, err := io.WriteString(qp, "\r\n"); err != nil {
			return err
		}
	}
	return qp.Close()
}

// encodeSubject returns s as it may appear in a header: unchanged when it
// is printable ASCII that cannot be mistaken for an encoded word, else as
// RFC 2047 "Q" encoded words of at most 75 characters, each holding whole
// UTF-8 sequences.
func encodeSubject(s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; i < len(s) && plain; i++ {
		plain = s[i] >= ' ' && s[i] <= '~'
	}
	if plain {
		return s
	}
	const prefix, suffix = "=?utf-8?q?", "?="
	const maxLen = 75 - len(prefix) - len(suffix)
	var b, word strings.Builder
	flush := func() {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(prefix + word.String() + suffix)
		word.Reset()
	}
	var enc []byte
	for _, r := range s {
		enc = enc[:0]
		for _, c := range []byte(string(r)) {
			switch {
			case c == ' ':
				enc = append(enc, '_')
			case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!*+-/", c) >= 0:
				enc = append(enc, c)
			default:
				enc = append(enc, '=', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			}
		}
		if word.Len()+len(enc) > maxLen {
			flush()
		}
		word.Write(enc)
	}
	if word.Len() > 0 || b.Len() == 0 {
		flush()
	}
	return b.String()
}

// foldHeader returns the header line "name: value\r\n", folded at spaces so
// that lines stay within 78 characters where a space allows it (RFC 5322
// section 2.2.3). value contains no CR or LF.
func foldHeader(name, value string) string {
	const limit = 78
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(":")
	lineLen := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if i > 0 && word != "" && lineLen+1+len(word) > limit {
			// Fold: the space becomes the first character of the next line,
			// which therefore never holds only white space.
			b.WriteString("\r\n")
			lineLen = 0
		}
		b.WriteString(" ")
		b.WriteString(word)
		lineLen += 1 + len(word)
	}
	b.WriteString("\r\n")
	return b.String()
}

// messageIDDomain returns the domain of addr for a Message-ID, or
// "localhost" when it is not a plain ASCII host name.
func messageIDDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	domain := addr[i+1:]
	if domain == "" {
		return "localhost"
	}
	for _, c := range domain {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "localhost"
		}
	}
	return domain
}
