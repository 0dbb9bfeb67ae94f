// Package mimetest parses composed messages for the mailer packages' tests,
// with net/mail and mime/multipart only, strictly: any header line not ended
// by CRLF, any bare CR or LF in the header block and any repeated header
// field is an error.
package mimetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
)

// Message is a parsed message.
type Message struct {
	Header mail.Header // the header fields, each present once
	Text   string      // the text/plain body, decoded, line endings LF
	HTML   string      // the text/html body, decoded, line endings LF; "" if none
}

// Keys returns the header field names, canonical and sorted.
func (m *Message) Keys() []string {
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Subject returns the decoded Subject.
func (m *Message) Subject() (string, error) {
	return new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
}

// Parse parses raw, which must be one RFC 5322 message with CRLF line
// endings whose body is text/plain or multipart/alternative with a
// text/plain and a text/html part, each quoted-printable.
func Parse(raw []byte) (*Message, error) {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, errors.New("mimetest: no end of header")
	}
	head := raw[:end+2]
	for i, c := range head {
		switch {
		case c == '\r' && (i+1 >= len(head) || head[i+1] != '\n'):
			return nil, fmt.Errorf("mimetest: bare CR in header at %d", i)
		case c == '\n' && (i == 0 || head[i-1] != '\r'):
			return nil, fmt.Errorf("mimetest: bare LF in header at %d", i)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	for k, v := range msg.Header {
		if len(v) != 1 {
			return nil, fmt.Errorf("mimetest: header %s appears %d times", k, len(v))
		}
	}
	m := &Message{Header: msg.Header}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	switch mediaType {
	case "text/plain":
		if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			return nil, fmt.Errorf("mimetest: Content-Transfer-Encoding %q", cte)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			return nil, err
		}
		m.Text = lf(b)
	case "multipart/alternative":
		mr := multipart.NewReader(msg.Body, params["boundary"])
		var types []string
		for {
			p, err := mr.NextPart() // decodes quoted-printable
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return nil, err
			}
			typ, params, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil {
				return nil, err
			}
			if params["charset"] != "utf-8" {
				return nil, fmt.Errorf("mimetest: %s part: charset %q", typ, params["charset"])
			}
			types = append(types, typ)
			switch typ {
			case "text/plain":
				m.Text = lf(b)
			case "text/html":
				m.HTML = lf(b)
			}
		}
		if !slices.Equal(types, []string{"text/plain", "text/html"}) {
			return nil, fmt.Errorf("mimetest: parts %q, want text/plain, text/html", types)
		}
	default:
		return nil, fmt.Errorf("mimetest: Content-Type %q", mediaType)
	}
	return m, nil
}

func lf(b []byte) string {
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
