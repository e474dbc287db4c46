package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"veil/cluster"
)

var handoffCommand = command{
	name:    "handoff",
	summary: "move the coordinator's role to another node, with no request failing",
	run:     runHandoff,
}

// runHandoff sends one POST /v1/admin/handoff to a node, which passes it
// to the coordinator. It is one attempt, not retried: an operator's order
// should happen once or say why not.
func runHandoff(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("handoff", "--api ADDR (--key-file K | --admin-token T) [--to NODE]", stderr)
	api := fl.String("api", "", "API address of any node")
	keyFile := fl.String("key-file", "", "the cluster's master key, to derive the admin token from")
	token := fl.String("admin-token", "", "the admin token ('veil admin-token'), instead of --key-file")
	to := fl.String("to", "", "the node to hand the role to (default: the least-loaded active node)")
	timeout := fl.Duration("timeout", 10*time.Second, "give up after this long")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "handoff", err)
	}
	if *api == "" {
		return fail(stderr, "handoff", usagef("%v", errNoAPI))
	}
	if (*keyFile == "") == (*token == "") {
		return fail(stderr, "handoff", usagef("give the admin token, or the key file to derive it from: one of --key-file and --admin-token"))
	}
	if *token == "" {
		key, err := masterKey(*keyFile)
		if err != nil {
			return fail(stderr, "handoff", err)
		}
		*token = cluster.AdminToken(key)
	}
	res, err := handOff(*api, *token, *to, *timeout)
	if err != nil {
		return fail(stderr, "handoff", err)
	}
	if res.Epoch == "" {
		fmt.Fprintf(stdout, "%s handed the coordinator's role to %s, which has not announced itself yet\n", res.From, res.To)
		return exitOK
	}
	fmt.Fprintf(stdout, "%s handed the coordinator's role to %s in %.1f ms (epoch %s)\n", res.From, res.To, res.TookMS, res.Epoch)
	return exitOK
}

func handOff(api, token, to string, timeout time.Duration) (cluster.HandOffResult, error) {
	var res cluster.HandOffResult
	base := api
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return res, usagef("--api %q: want host:port or a URL", api)
	}
	u.Path = "/v1/admin/handoff"
	if to != "" {
		u.RawQuery = url.Values{"to": {to}}.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return res, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return res, fmt.Errorf("%d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return res, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, errors.New("the node's answer is not a hand-off result: " + err.Error())
	}
	return res, nil
}
