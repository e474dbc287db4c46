package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"veil/cluster/client"
)

var membersCommand = command{
	name:    "members",
	summary: "list the cluster's members as a node sees them",
	run:     runMembers,
}

func runMembers(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("members", "--api URL [-format table|json]", stderr)
	api := fl.String("api", "", "API address of any node (comma separated for several)")
	format := fl.String("format", "table", "output format: table or json")
	timeout := fl.Duration("timeout", 10*time.Second, "give up after this long")
	ctls := addCloudTLSFlags(fl)
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "members", err)
	}
	if *api == "" {
		return fail(stderr, "members", usagef("%v", errNoAPI))
	}
	if *format != "table" && *format != "json" {
		return fail(stderr, "members", usagef("-format %q: want table or json", *format))
	}
	tc, err := ctls.config()
	if err != nil {
		return fail(stderr, "members", err)
	}
	cl, err := client.New(client.Config{Nodes: strings.Split(*api, ","), Route: client.RouteAny, Timeout: *timeout, TLS: tc})
	if err != nil {
		return fail(stderr, "members", usagef("%v", err))
	}
	members, err := cl.Members(context.Background())
	if err != nil {
		return fail(stderr, "members", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(members); err != nil {
			return fail(stderr, "members", err)
		}
		return exitOK
	}
	raft := false
	for _, m := range members {
		raft = raft || m.Raft != nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	head := "Name\tAddress\tAPI\tStatus\tRole\tLoad\tEpoch\tMode\tState"
	if raft {
		head += "\tRaft\tRaft state\tVoter\tCommit\tLast contact"
	}
	fmt.Fprintln(tw, head)
	for _, m := range members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t%d\t%s\t%s",
			m.Name, m.Address, m.API, m.Status, m.Role, m.Load, m.Epoch, m.Mode, m.State)
		switch {
		case m.Raft != nil:
			contact := "-" // the leader
			if m.Raft.State != "leader" {
				contact = (time.Duration(m.Raft.LastContactMs) * time.Millisecond).String()
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%t\t%d\t%s", m.Raft.Address, m.Raft.State, m.Raft.Voter, m.Raft.CommitIndex, contact)
		case raft:
			fmt.Fprint(tw, "\t-\t-\t-\t-\t-")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, "members", err)
	}
	return exitOK
}
