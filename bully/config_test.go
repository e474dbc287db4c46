package bully

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig("a").Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"the defaults are valid", func(*Config) {}, true},
		{"an ID is required", func(c *Config) { c.ID = "" }, false},
		{"an ID must fit the wire", func(c *Config) { c.ID = strings.Repeat("x", MaxIDLength+1) }, false},
		{"an ID of exactly MaxIDLength bytes fits", func(c *Config) { c.ID = strings.Repeat("x", MaxIDLength) }, true},
		{"an ID must be UTF-8", func(c *Config) { c.ID = "\xff" }, false},
		{"heartbeats need a positive interval", func(c *Config) { c.HeartbeatInterval = 0 }, false},
		{"an election must outlast a round trip", func(c *Config) { c.ElectionTimeout = 2 }, false},
		{"one lost heartbeat must not start an election", func(c *Config) { c.HeartbeatInterval = 5 }, false},
		{"a waiting node must outlast the answerer's election", func(c *Config) { c.ElectionTimeout = c.CoordinatorTimeout }, false},
		{"re-election may be off", func(c *Config) { c.ReelectInterval = 0 }, true},
		{"re-election cannot be negative", func(c *Config) { c.ReelectInterval = -1 }, false},
		{"re-election no faster than a failover", func(c *Config) { c.ReelectInterval = c.CoordinatorTimeout - 1 }, false},
		{"the gap cannot be negative", func(c *Config) { c.LoadGap = -1 }, false},
		{"the gap must be a number", func(c *Config) { c.LoadGap = math.NaN() }, false},
		{"the gap must be finite", func(c *Config) { c.LoadGap = math.Inf(1) }, false},
		{"a zero gap is allowed", func(c *Config) { c.LoadGap = 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig("a")
			tt.edit(&c)
			err := c.Validate()
			if tt.ok && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("want ErrInvalidConfig, got %v", err)
			}
			if _, nerr := NewNode(c); (nerr == nil) != tt.ok {
				t.Fatalf("NewNode disagrees with Validate: %v", nerr)
			}
		})
	}
}

func TestAgreementBoundFollowsTheFormula(t *testing.T) {
	c := DefaultConfig("a") // H=2 E=4 C=10 R=100
	// 2(C+E+3d) + (H+d) + R + (H+d) + E + 3d with d = 1.
	if got, want := c.AgreementBound(1), 2*(10+4+3)+3+100+3+4+3; got != want {
		t.Errorf("AgreementBound(1) = %d, want %d", got, want)
	}
	if c.AgreementBound(0) != c.AgreementBound(1) {
		t.Error("a delay under one tick should count as one tick")
	}
	c.ReelectInterval = 0
	if got, want := c.AgreementBound(2), 2*(10+4+6)+4; got != want {
		t.Errorf("without re-election AgreementBound(2) = %d, want %d", got, want)
	}
}
