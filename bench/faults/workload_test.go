package faults

import (
	"errors"
	"fmt"
	"testing"

	"veil/bench/check"
	"veil/cluster/client"
)

func TestClassifyCallsOnlyARefusalAFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want check.Result
	}{
		{"no error is an acknowledgement", nil, check.OK},
		{"no views left is a denial", &client.Error{Status: 403, Code: "no_views_left"}, check.Denied},
		{"an unknown image is a failure", fmt.Errorf("wrapped: %w", &client.Error{Status: 404, Code: "unknown_image"}), check.Failed},
		{"a stale epoch may still have been applied", &client.Error{Status: 409, Code: "stale_epoch"}, check.Unknown},
		{"an unknown outcome is unknown", &client.Error{Status: 503, Code: "unknown_outcome"}, check.Unknown},
		{"a gateway timeout is unknown", &client.Error{Status: 504, Code: "timeout"}, check.Unknown},
		{"a cut connection is unknown", errors.New("connection reset by peer"), check.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}
