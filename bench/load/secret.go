// This file holds the secrets a workload puts when they are the user's own
// files: photographs of a few MB, as people share, rather than the noise the
// bench makes.

package load

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // the cloud takes GIF secrets too: DecodeConfig must know them
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"veil/cluster"
	"veil/stego"
)

// Secret is one file a workload puts.
type Secret struct {
	// Name is the file's base name.
	Name  string
	Bytes []byte
	// Format is the image's format as image.DecodeConfig names it (jpeg,
	// png or gif), and Width and Height its size in pixels.
	Format        string
	Width, Height int
}

// Size is the image's size, WxH.
func (s Secret) Size() string { return fmt.Sprintf("%dx%d", s.Width, s.Height) }

// maxSecretsBytes bounds what a directory of secrets may hold in all: the
// bench keeps every file in memory, and each worker a few veiled images
// many times larger.
const maxSecretsBytes = 256 << 20

// MaxSecret is the largest secret, in bytes, that a node of default
// configuration takes in a put at level into a cover it generates
// (cluster.Config.MaxSecret): a bench that knew less would send a put only
// to have it refused.
func MaxSecret(level stego.Level) int {
	return int(cluster.DefaultConfig("bench").MaxSecret(level))
}

// imageExts are the names of the files in a directory that are secrets;
// anything else there (a README, a licence) is left alone.
var imageExts = []string{".jpg", ".jpeg", ".png", ".gif"}

// ReadSecrets reads the secrets at path: one image file, or every JPEG,
// PNG and GIF file of a directory (not of its subdirectories), in the
// order of their names. Each must be an image the cloud takes at level:
// none larger than MaxSecret(level). A directory with no image file is
// refused, as is a file given by name that is not an image, whatever its
// name. Every error names the file, as the os package's do.
func ReadSecrets(path string, level stego.Level) ([]Secret, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		s, err := readSecret(path, level)
		if err != nil {
			return nil, err
		}
		return []Secret{s}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []Secret
	total := 0
	for _, e := range entries { // ReadDir sorts them by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(name))) {
			continue
		}
		if e.IsDir() {
			continue
		}
		s, err := readSecret(filepath.Join(path, name), level)
		if err != nil {
			return nil, err
		}
		if total += len(s.Bytes); total > maxSecretsBytes {
			return nil, fmt.Errorf("the images in %s add up to over %d MB, and the bench holds them all in memory: give a directory of fewer",
				path, maxSecretsBytes>>20)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no JPEG, PNG or GIF file (%s): give a directory of photographs, or one file (make photos fills out/photos)",
			path, strings.Join(imageExts, ", "))
	}
	return out, nil
}

// readSecret reads one image file the cloud takes at level.
func readSecret(file string, level stego.Level) (Secret, error) {
	f, err := os.Open(file)
	if err != nil {
		return Secret{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Secret{}, err
	}
	if !st.Mode().IsRegular() {
		return Secret{}, fmt.Errorf("%s is not a regular file", file)
	}
	// Judged before reading: a file of many GB is refused, not loaded.
	if limit := MaxSecret(level); st.Size() > int64(limit) {
		return Secret{}, fmt.Errorf("%s is %s bytes, and the cloud takes a secret of at most %s bytes at stealth level %s: give a smaller photograph%s",
			file, Commas(st.Size()), Commas(int64(limit)), level, cheaperLevel(st.Size()))
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return Secret{}, fmt.Errorf("reading %s: %w", file, err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Secret{}, fmt.Errorf("%s is not a JPEG, PNG or GIF image (%v)", file, err)
	}
	return Secret{Name: filepath.Base(file), Bytes: b, Format: format, Width: cfg.Width, Height: cfg.Height}, nil
}

// cheaperLevel suggests the stealthiest level that takes a secret of n
// bytes, when one does.
func cheaperLevel(n int64) string {
	for _, l := range slices.Backward(stego.Levels) {
		if int64(MaxSecret(l)) >= n {
			return fmt.Sprintf(", or a cheaper stealth level (--stealth %s takes up to %s bytes)", l, Commas(int64(MaxSecret(l))))
		}
	}
	return ""
}

// SecretBytes returns the files' contents, in order.
func SecretBytes(s []Secret) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = x.Bytes
	}
	return out
}

// Commas writes n with thousands separators: 1,882,624.
func Commas(n int64) string { return message.NewPrinter(language.English).Sprintf("%d", n) }
