package registry

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleCommands is one of each kind, with every field set.
func sampleCommands() []Command {
	return []Command{
		RegisterUser{Name: "ann", PasswordHash: testHash, IdemKey: "reg-1"},
		RegisterUser{Name: "bob", PasswordHash: testHash},
		PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": 2, "cy": MaxViews}, Created: t0, IdemKey: "put-1"},
		PutImage{ID: id(2), Owner: "ann", Viewers: map[string]int{}, Created: minCreated},
		View{ID: id(1), Viewer: "bob", IdemKey: "view-1"},
		View{ID: id(1), Viewer: "ann"},
		Share{ID: id(1), Caller: "ann", Set: map[string]int{"dee": 0, "bob": 5}, Remove: []string{"cy", "a.b"}, IdemKey: "share-1"},
		Share{ID: id(1), Caller: "ann", Set: map[string]int{}},
		ExpireKeys{Before: 1 << 40},
		Barrier{},
		PutImage{ID: id(3), Owner: "ann", Viewers: map[string]int{"bob": 1}, Created: t0, Digest: bytes.Repeat([]byte{7}, DigestLen)},
		PeerUp{User: "bob", Device: id(9), Key: bytes.Repeat([]byte{1}, PeerKeyLen), Addr: "127.0.0.1:7000", Holds: []string{id(1), id(3)}, At: t0},
		PeerUp{User: "bob", Device: id(9), Key: bytes.Repeat([]byte{1}, PeerKeyLen), Addr: "[::1]:7000", At: t0},
		PeerDown{Device: id(9), At: t0},
		TakeLease{ID: id(200), Image: id(1), Viewer: "bob", Device: id(9), Views: MaxViews, Issued: t0, Expires: t0.Add(time.Hour), IdemKey: "take-1"},
		TakeLease{ID: id(201), Image: id(1), Viewer: "bob", Device: id(9), Views: 1, Issued: minCreated, Expires: maxCreated.Add(-1)},
		ReturnLease{ID: id(200), Viewer: "bob", Spent: 1, IdemKey: "return-1"},
		ReturnLease{ID: id(201), Viewer: "bob"},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		t.Run(c.Kind().String(), func(t *testing.T) {
			b, err := Encode(c)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			again, _ := Encode(got)
			if !bytes.Equal(b, again) {
				t.Fatalf("re-encoded differently:\n%x\n%x", b, again)
			}
			if !sameCommand(c, got) {
				t.Fatalf("decoded %#v, want %#v", got, c)
			}
		})
	}
}

// sameCommand compares commands as values: times by instant, an empty
// map or list equal to none, removals in any order.
func sameCommand(a, b Command) bool {
	norm := func(c Command) Command {
		switch c := c.(type) {
		case PutImage:
			c.Created = c.Created.UTC()
			if len(c.Viewers) == 0 {
				c.Viewers = nil
			}
			return c
		case Share:
			if len(c.Set) == 0 {
				c.Set = nil
			}
			if len(c.Remove) == 0 {
				c.Remove = nil
			} else {
				c.Remove = slices.Sorted(slices.Values(c.Remove))
			}
			return c
		case TakeLease:
			c.Issued, c.Expires = c.Issued.UTC(), c.Expires.UTC()
			return c
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestAVersion1PutStillDecodesWithoutADigest(t *testing.T) {
	b := readHex(t, "testdata/command-v1-put.hex")
	if b[0] != 1 {
		t.Fatalf("golden command has version %d, want 1", b[0])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": 2}, Created: t0, IdemKey: "put-1"}
	if !sameCommand(got, want) {
		t.Fatalf("decoded %#v, want %#v", got, want)
	}
}

func TestAVersion2PeerUpStillDecodes(t *testing.T) {
	b := readHex(t, "testdata/command-v2-peer-up.hex")
	if b[0] != 2 {
		t.Fatalf("golden command has version %d, want 2", b[0])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := PeerUp{User: "bob", Device: id(9), Key: bytes.Repeat([]byte{1}, PeerKeyLen), Addr: "127.0.0.1:7000", Holds: []string{id(1), id(3)}, At: t0}
	if !sameCommand(got, want) {
		t.Fatalf("decoded %#v, want %#v", got, want)
	}
}

func TestPeerCommandsDoNotDecodeAsVersion1(t *testing.T) {
	for _, c := range []Command{
		PeerUp{User: "bob", Device: id(9), Key: bytes.Repeat([]byte{1}, PeerKeyLen), Addr: "h:1", At: t0},
		PeerDown{Device: id(9), At: t0},
	} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		b[0] = 1
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s as version 1: err = %v, want ErrMalformed", c.Kind(), err)
		}
	}
}

func readHex(t *testing.T, path string) []byte {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeRefusesInvalidCommands(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want error
	}{
		{"a nil command", nil, ErrInvalid},
		{"a bad user name", RegisterUser{Name: "ann!", PasswordHash: testHash}, ErrInvalid},
		{"a password in place of a hash", RegisterUser{Name: "ann", PasswordHash: "hunter22"}, ErrBadHash},
		{"an id of 31 digits", View{ID: id(1)[1:], Viewer: "bob"}, ErrInvalid},
		{"an id with a non-hex digit", View{ID: strings.Repeat("g", 32), Viewer: "bob"}, ErrInvalid},
		{"a key with a control byte", View{ID: id(1), Viewer: "bob", IdemKey: "k\n"}, ErrInvalid},
		{"a key over MaxKeyLen bytes", View{ID: id(1), Viewer: "bob", IdemKey: strings.Repeat("k", MaxKeyLen+1)}, ErrInvalid},
		{"a creation time before 1970", PutImage{ID: id(1), Owner: "ann", Created: minCreated.Add(-1)}, ErrInvalid},
		{"more than MaxViewers removals", Share{ID: id(1), Caller: "ann", Remove: make([]string, MaxViewers+1)}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(tt.cmd); !errors.Is(err, tt.want) {
				t.Fatalf("Encode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeRefusesMalformedInput(t *testing.T) {
	view, _ := Encode(View{ID: id(1), Viewer: "bob", IdemKey: "k"})
	put, _ := Encode(PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": 1, "cyd": 1}, Created: t0})
	// The offset of the second viewer's name in put: version, kind, id,
	// owner, created, count, first viewer (length, name, views).
	second := 2 + 16 + 2 + 3 + 8 + 4 + 2 + 3 + 4
	with := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty input", nil},
		{"a version byte alone", []byte{Version}},
		{"a newer version", with(view, func(b []byte) []byte { b[0] = Version + 1; return b })},
		{"version zero", with(view, func(b []byte) []byte { b[0] = 0; return b })},
		{"an unknown kind", with(view, func(b []byte) []byte { b[1] = 99; return b })},
		{"kind zero", with(view, func(b []byte) []byte { b[1] = 0; return b })},
		{"truncated by one byte", view[:len(view)-1]},
		{"a trailing byte", append(bytes.Clone(view), 0)},
		{"viewers out of order", with(put, func(b []byte) []byte { copy(b[second+2:], "ao"); return b })},
		{"a viewer repeated", with(put, func(b []byte) []byte { copy(b[second+2:], "bob"); return b })},
		{"views above MaxViews", with(put, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[second-4:], MaxViews+1)
			return b
		})},
		{"a viewer count beyond the input", with(put, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[second-4-3-2-4:], 1<<30)
			return b
		})},
		{"a bad name", with(view, func(b []byte) []byte { b[2+16+2] = ' '; return b })},
		{"a command over MaxCommandSize", append(bytes.Clone(view), make([]byte, MaxCommandSize)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := Decode(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %#v, %v; want ErrMalformed", c, err)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ann", true},
		{"A.n-n_@+9", true},
		{strings.Repeat("a", MaxNameLen), true},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"", false},
		{"ann bob", false},
		{"ann/bob", false},
		{"ånn", false},
		{"ann\x00", false},
	}
	for _, tt := range tests {
		if err := ValidName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestKindString(t *testing.T) {
	if got := Kind(42).String(); got != "Kind(42)" {
		t.Fatalf("Kind(42) = %q", got)
	}
	for c, want := range map[Command]string{View{}: "view", TakeLease{}: "take_lease", ReturnLease{}: "return_lease"} {
		if got := c.Kind().String(); got != want {
			t.Fatalf("%T kind = %q, want %q", c, got, want)
		}
	}
}

func TestCanonicalNameIsOneNamePerUser(t *testing.T) {
	tests := []struct {
		in, want string // want "" for a refusal
		rule     string
	}{
		{"alice", "alice", "a canonical name is itself"},
		{"Alice", "alice", "case is folded"},
		{"ALICE", "alice", "case is folded"},
		{"ａｌｉｃｅ", "alice", "full-width letters are their ordinary ones"},
		{"ＡＬＩＣＥ", "alice", "full width and case together"},
		{"\u212Aate", "kate", "the Kelvin sign lowers to k"},
		{"A.n-n_@+9", "a.n-n_@+9", "the punctuation names may use is kept"},
		{"aIice", "aiice", "a capital i is not a small L: look-alikes of other letters are other names"},
		{"", "", "an empty name is refused"},
		{"ann bob", "", "a space is refused"},
		{"émile", "", "a letter that is not ASCII once mapped is refused, as ValidName does"},
		{"ann\x00", "", "a control character is refused"},
		{"\xff", "", "bytes that are not UTF-8 are refused"},
		{strings.Repeat("a", MaxNameLen+1), "", "a name longer than MaxNameLen is refused"},
		{strings.Repeat("ａ", MaxNameLen), strings.Repeat("a", MaxNameLen), "a full-width name of MaxNameLen letters fits"},
		{strings.Repeat("a", MaxNameInput+1), "", "input over MaxNameInput is refused unmapped"},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.in, func(t *testing.T) {
			got, err := CanonicalName(tt.in)
			switch {
			case tt.want == "" && !errors.Is(err, ErrInvalid):
				t.Fatalf("CanonicalName(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
			case tt.want != "" && (err != nil || got != tt.want):
				t.Fatalf("CanonicalName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewCommandsIntroduceOnlyCanonicalNames(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		ok   bool
	}{
		{"a registration under a canonical name", RegisterUser{Name: "alice", PasswordHash: testHash}, true},
		{"a registration under another case", RegisterUser{Name: "Alice", PasswordHash: testHash}, false},
		{"a put to canonical viewers", PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": 1}, Created: t0}, true},
		{"a put to a viewer in another case", PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"Bob": 1}, Created: t0}, false},
		{"a put by an owner registered before names were canonical", PutImage{ID: id(1), Owner: "Ann", Viewers: map[string]int{"bob": 1}, Created: t0}, true},
		{"a share setting a viewer in another case", Share{ID: id(1), Caller: "ann", Set: map[string]int{"BOB": 1}}, false},
		{"a share removing a viewer registered before names were canonical", Share{ID: id(1), Caller: "ann", Remove: []string{"Bob"}}, true},
		{"a view by a viewer registered before names were canonical", View{ID: id(1), Viewer: "Bob"}, true},
		{"a command Validate refuses", RegisterUser{Name: "", PasswordHash: testHash}, false},
		{"a pointer", &View{ID: id(1), Viewer: "bob"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateNew(tt.cmd)
			if tt.ok && err != nil {
				t.Fatalf("ValidateNew: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("ValidateNew = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestALogWrittenBeforeNamesWereCanonicalReplaysAsWritten: a log of the
// version that compared names byte for byte may hold "Alice" and "alice"
// as two users; it decodes and applies as it did then.
func TestALogWrittenBeforeNamesWereCanonicalReplaysAsWritten(t *testing.T) {
	s := NewState()
	for i, c := range []Command{
		RegisterUser{Name: "Alice", PasswordHash: testHash},
		RegisterUser{Name: "alice", PasswordHash: testHash},
		PutImage{ID: id(1), Owner: "Alice", Viewers: map[string]int{"alice": 1}, Created: t0},
	} {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", c, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode of %#v: %v", c, err)
		}
		if out := s.Apply(uint64(i+1), got); out.Err != nil {
			t.Fatalf("Apply(%#v): %v", got, out.Err)
		}
	}
	for _, name := range []string{"Alice", "alice"} {
		if _, ok := s.User(name); !ok {
			t.Errorf("user %q is gone after the replay", name)
		}
	}
}

// FuzzCanonicalName checks that whatever a client sends, a name that is
// taken is valid, is its own canonical form, and is what its upper case
// maps to.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"alice", "Alice", "ａｌｉｃｅ", "\u212Aate", "a.b-c_d@e+f", "émile", "\xff", "ǅ", "ß", "İ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalName(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CanonicalName(%q): %v, not ErrInvalid", s, err)
			}
			return
		}
		if err := ValidName(c); err != nil {
			t.Fatalf("CanonicalName(%q) = %q, which ValidName refuses: %v", s, c, err)
		}
		if again, err := CanonicalName(c); err != nil || again != c {
			t.Fatalf("CanonicalName(%q) = %q, whose own form is %q, %v", s, c, again, err)
		}
		if up, err := CanonicalName(strings.ToUpper(c)); err != nil || up != c {
			t.Fatalf("CanonicalName(%q) = %q, %v; want %q", strings.ToUpper(c), up, err, c)
		}
		if err := ValidateNew(RegisterUser{Name: c, PasswordHash: testHash}); err != nil {
			t.Fatalf("a registration as %q (from %q): %v", c, s, err)
		}
	})
}
