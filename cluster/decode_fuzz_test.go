package cluster

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"veil/stego"
)

// FuzzParseHide feeds arbitrary bodies, content types and query strings to
// the parser of POST /v1/hide: it must never panic, and whatever it accepts
// must be a request a worker can act on.
func FuzzParseHide(f *testing.F) {
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	w, _ := mw.CreateFormFile("secret", "s.png")
	w.Write([]byte("\x89PNG\r\n\x1a\n"))
	mw.WriteField("owner", "alice")
	mw.WriteField("viewers", "bob=2,carol")
	mw.WriteField("stealth", "compact")
	mw.Close()
	f.Add(mw.FormDataContentType(), "", form.Bytes())
	f.Add("image/png", "owner=alice&viewers=bob&views=3", []byte("\x89PNG\r\n\x1a\n"))
	f.Add("image/png", "owner=alice&viewers=bob&stealth=Stealthy", []byte("\x89PNG\r\n\x1a\n"))
	f.Add("multipart/form-data; boundary=x", "", []byte("--x\r\nContent-Disposition: form-data; name=\"secret\"; filename=\"a\"\r\n\r\nhi\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, contentType, query string, body []byte) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, err := parseHide(contentType, q, body, "")
		if err != nil {
			return
		}
		if len(req.secret) == 0 {
			t.Fatal("accepted a request with no secret")
		}
		if err := req.meta.Validate(); err != nil {
			t.Fatalf("accepted metadata that does not validate: %v", err)
		}
		if !slices.Contains(stego.Levels, req.level) {
			t.Fatalf("accepted stealth level %v", req.level)
		}
	})
}

// FuzzUserMsg feeds arbitrary gossip user messages to their decoder.
func FuzzUserMsg(f *testing.F) {
	f.Add(encodeUserMsg(chanElection, "node-1", []byte{1, 2, 3}))
	f.Add(encodeUserMsg(chanControl, "n", []byte{ctlLeaving}))
	f.Fuzz(func(t *testing.T, b []byte) {
		channel, from, payload, err := decodeUserMsg(b)
		if err != nil {
			return
		}
		if again := encodeUserMsg(channel, from, payload); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %x vs %x", again, b)
		}
	})
}

// FuzzAPIBodies feeds arbitrary JSON bodies to the decoders of every JSON
// route: the strict one of clients' bodies (credentials, shares, the
// discovery routes' bodies) and the one of what nodes send each other (the
// replication requests, a commit's reply, a watch's reply, a hand-off's
// result). Decoding must never panic, what decodes must encode again, and
// what the strict decoder takes encoding/json reads as the same value: no
// body means one thing to the node and another to a reader of the usual
// kind.
func FuzzAPIBodies(f *testing.F) {
	f.Add([]byte(`{"name":"alice","password":"correct horse"}`))
	f.Add([]byte(`{"set":{"bob":3},"remove":["carol"]}`))
	f.Add([]byte(`{"epoch":{"Term":3,"Node":"n1"},"prev_index":4,"prev_epoch":{"Term":2,"Node":"n2"},"entries":[{"index":5,"epoch":{"Term":3,"Node":"n1"},"command":"AQI="}],"commit":4}`))
	f.Add([]byte(`{"epoch":{"Term":1,"Node":"n1"}}`))
	f.Add([]byte(`{"key":"AAAA","at":"2026-12-03T12:00:00Z","proof":"AAAA"}`))
	f.Add([]byte(`{"statement":"VlYBAQ","address":"127.0.0.1:7000","holds":["00000000000000000000000000000001"]}`))
	f.Add([]byte(`{"index":3,"id":"00000000000000000000000000000001","version":2,"views_left":1,"by_owner":false,"replayed":true,"created":"2026-12-03T12:00:00Z"}`))
	f.Add([]byte(`{"statement":"VlYBAQ","spent":2,"proof":"AAAA"}`))
	f.Add([]byte(`{"epoch":"3/node-1","handed_to":"node-2"}`))
	f.Add([]byte(`{"from":"node-1","to":"node-2","epoch":"4/node-2","took_ms":37.5,"reason":"admin"}`))
	f.Add([]byte(`{"name":"alice","name":"bob","password":"correct horse"}`))
	f.Add([]byte(`{"Name":"alice","password":"correct horse"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		clients := []func() any{func() any { return &credentials{} }, func() any { return &shareRequest{} }, func() any { return &VouchRequest{} },
			func() any { return &PeerRequest{} }, func() any { return &ReturnRequest{} }}
		for _, mk := range clients {
			v := mk()
			if err := decodeStrict(body, v); err != nil {
				continue
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("%T decoded from %q does not encode: %v", v, body, err)
			}
			w := mk()
			if err := json.Unmarshal(body, w); err != nil || !reflect.DeepEqual(v, w) {
				t.Fatalf("%q: the strict decoder reads %+v, encoding/json %+v (%v)", body, v, w, err)
			}
		}
		for _, v := range []any{&appendRequest{}, &prepareRequest{}, &commitReply{}, &watchReply{}, &HandOffResult{}} {
			if err := decodeKnown(body, v); err != nil {
				continue
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("%T decoded from %q does not encode: %v", v, body, err)
			}
		}
	})
}
