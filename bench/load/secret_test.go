package load

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"veil/cluster"
	"veil/stego"
)

// files writes name → contents into a fresh directory and returns it.
func files(t *testing.T, fs map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range fs {
		path := filepath.Join(dir, name)
		if b == nil { // a subdirectory
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// encoded is a small w×h image in the given format.
func encoded(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	var b bytes.Buffer
	var err error
	switch format {
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "png":
		err = png.Encode(&b, img)
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadSecretsTakesAFileOrTheImagesOfADirectoryInNameOrder(t *testing.T) {
	jpg, pngb, gifb := encoded(t, "jpeg", 12, 8), encoded(t, "png", 4, 4), encoded(t, "gif", 2, 3)
	cases := []struct {
		name  string
		files map[string][]byte
		at    string // the path given, under the directory; "" for the directory
		want  []string
	}{
		{"one JPEG file", map[string][]byte{"photo.jpg": jpg}, "photo.jpg", []string{"photo.jpg 12x8 jpeg"}},
		{"a file is judged by its bytes, not its name", map[string][]byte{"photo.bin": pngb}, "photo.bin", []string{"photo.bin 4x4 png"}},
		{"a directory's JPEG, PNG and GIF files, by name", map[string][]byte{"b.PNG": pngb, "a.jpeg": jpg, "c.gif": gifb}, "",
			[]string{"a.jpeg 12x8 jpeg", "b.PNG 4x4 png", "c.gif 2x3 gif"}},
		{"a README, a hidden file and a subdirectory beside them are left alone",
			map[string][]byte{"README": []byte("photographs"), ".x.jpg": []byte("not read"), "sub.jpg": nil, "Dune.jpg": jpg}, "",
			[]string{"Dune.jpg 12x8 jpeg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := files(t, tc.files)
			got, err := ReadSecrets(filepath.Join(dir, tc.at), stego.Balanced)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Name+" "+s.Size()+" "+s.Format)
				if !bytes.Equal(s.Bytes, tc.files[s.Name]) {
					t.Errorf("%s: read %d bytes, not the file's %d", s.Name, len(s.Bytes), len(tc.files[s.Name]))
				}
			}
			if strings.Join(names, ", ") != strings.Join(tc.want, ", ") {
				t.Fatalf("read %q, want %q", names, tc.want)
			}
		})
	}
}

func TestReadSecretsRefusesWhatTheCloudWouldNotTakeNamingTheFile(t *testing.T) {
	jpg := encoded(t, "jpeg", 8, 8)
	// Over what the cloud takes at the stealthy level, under the balanced
	// level's: the size is judged before the bytes are looked at.
	big := make([]byte, MaxSecret(stego.Stealthy)+1)
	copy(big, jpg)
	cases := []struct {
		name  string
		files map[string][]byte
		at    string
		level stego.Level
		want  []string
	}{
		{"an empty directory", map[string][]byte{}, "", stego.Balanced, []string{"holds no JPEG, PNG or GIF file"}},
		{"a directory of no image", map[string][]byte{"notes.txt": []byte("hello"), "sub.jpg": nil}, "", stego.Balanced,
			[]string{"holds no JPEG, PNG or GIF file"}},
		{"a file that is not an image", map[string][]byte{"notes.txt": []byte("hello")}, "notes.txt", stego.Balanced,
			[]string{"notes.txt is not a JPEG, PNG or GIF image"}},
		{"a file named as an image in a directory that is not one", map[string][]byte{"a.jpg": jpg, "b.jpg": []byte("truncated")}, "",
			stego.Balanced, []string{"b.jpg is not a JPEG, PNG or GIF image"}},
		{"a file over what the level takes", map[string][]byte{"big.jpg": big}, "big.jpg", stego.Stealthy,
			[]string{"big.jpg is " + Commas(int64(len(big))) + " bytes", "at most " + Commas(int64(len(big)-1)) + " bytes at stealth level stealthy",
				"--stealth balanced takes"}},
		{"no such file", map[string][]byte{}, "gone.jpg", stego.Balanced, []string{"gone.jpg", "no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := files(t, tc.files)
			_, err := ReadSecrets(filepath.Join(dir, tc.at), tc.level)
			if err == nil {
				t.Fatal("read; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestTheLargestSecretIsWhatANodeTakesAtTheLevel(t *testing.T) {
	for _, l := range stego.Levels {
		if got, want := MaxSecret(l), cluster.DefaultConfig("n").MaxSecret(l); int64(got) != want || got <= 0 {
			t.Errorf("MaxSecret(%s) = %d, want a node's %d", l, got, want)
		}
	}
	// A photograph of the few MB people share fits at the default level.
	if MaxSecret(stego.DefaultLevel) < 2*PhotoBytes {
		t.Errorf("MaxSecret(%s) = %d: a photograph of %d bytes should fit twice", stego.DefaultLevel, MaxSecret(stego.DefaultLevel), PhotoBytes)
	}
}
