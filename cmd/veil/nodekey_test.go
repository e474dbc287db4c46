package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/stego"
)

func TestNodeKeyComesFromTheFileOrFromVEIL_KEY(t *testing.T) {
	fileHex := strings.Repeat("ab", stego.KeySize)
	envHex := strings.Repeat("cd", stego.KeySize)
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(fileHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(t.TempDir(), "open.key")
	if err := os.WriteFile(open, []byte(fileHex+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	fileKey, _ := hex.DecodeString(fileHex)
	envKey, _ := hex.DecodeString(envHex)

	cases := []struct {
		name      string
		keyFile   string
		env       string
		want      []byte
		wantUsage bool   // a usage error (exit 2)
		wantErr   string // in the error's text
		allowOpen bool
	}{
		{name: "the key file alone", keyFile: path, want: fileKey},
		{name: "VEIL_KEY alone, as a key file holds it", env: envHex + "\n", want: envKey},
		{name: "the key file wins over VEIL_KEY", keyFile: path, env: envHex, want: fileKey},
		{name: "neither is a usage error naming both", wantUsage: true, wantErr: "VEIL_KEY"},
		{name: "a malformed VEIL_KEY is named", env: "not a key", wantErr: "VEIL_KEY"},
		{name: "a missing key file is an error", keyFile: path + ".missing", env: envHex, wantErr: "reading key"},
		{name: "a key file others may read is refused, with what to do", keyFile: open, wantErr: "chmod 600"},
		{name: "unless the operator allows it", keyFile: open, allowOpen: true, want: fileKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nodeKey(tc.keyFile, tc.env, tc.allowOpen)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				var u usageErr
				if isUsage := errors.As(err, &u); isUsage != tc.wantUsage {
					t.Fatalf("usage error: %v, want %v (err %v)", isUsage, tc.wantUsage, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("key %x, want %x", got, tc.want)
			}
		})
	}
}
