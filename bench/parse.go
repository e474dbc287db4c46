package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// maxDim bounds a side of an image given on the command line.
const maxDim = 1 << 14

// ParseDims reads an image size, WxH (e.g. 64x64).
func ParseDims(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil || w < 1 || h < 1 || w > maxDim || h > maxDim {
		return 0, 0, fmt.Errorf("image size %q: want WxH, each side 1 to %d pixels, e.g. 64x64", s, maxDim)
	}
	return w, h, nil
}

// maxNodes bounds a cluster size given on the command line.
const maxNodes = 64

// ParseSizes reads cluster sizes, N[,N...] (e.g. 3,5,7), each 1 to 64.
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxNodes {
			return nil, fmt.Errorf("cluster size %q: want N[,N...], each 1 to %d", s, maxNodes)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseModes reads --mode: bully, raft, or both (bully then raft).
func ParseModes(s string) ([]string, error) {
	switch s {
	case "bully", "raft":
		return []string{s}, nil
	case "both":
		return []string{"bully", "raft"}, nil
	}
	return nil, fmt.Errorf("mode %q: want bully, raft or both", s)
}
