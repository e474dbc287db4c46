package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"veil/cluster"
	"veil/cluster/client"
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
	ctls := addCloudTLSFlags(fl)
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
	tc, err := ctls.config()
	if err != nil {
		return fail(stderr, "handoff", err)
	}
	cl, err := client.New(client.Config{Nodes: []string{*api}, Route: client.RouteAny, Timeout: *timeout, NoRetry: true, TLS: tc})
	if err != nil {
		return fail(stderr, "handoff", usagef("--api: %v", err))
	}
	cl.SetToken(*token)
	res, err := cl.HandOff(context.Background(), *to)
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
