package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"veil/cluster"
)

var snapshotCommand = command{
	name:    "snapshot",
	summary: "save the registry to a backup file, or restore one into a new cluster",
	run:     runSnapshot,
}

func runSnapshot(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "save":
			return runSnapshotSave(args[1:], stdout, stderr)
		case "restore":
			return runSnapshotRestore(args[1:], stdout, stderr)
		case "-h", "-help", "--help", "help":
			snapshotUsage(stdout)
			return exitOK
		}
		return fail(stderr, "snapshot", usagef("unknown subcommand %q: want save or restore (veil snapshot -h)", args[0]))
	}
	snapshotUsage(stderr)
	return exitUsage
}

func snapshotUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: veil snapshot save -o FILE --api ADDR (--key-file K | --admin-token T)")
	fmt.Fprintln(w, "       veil snapshot restore FILE --api ADDR (--key-file K | --admin-token T) [--force]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "save writes the registry (users, images, views, leases, peers), as the coordinator")
	fmt.Fprintln(w, "holds it at a committed index, to FILE; restore installs it into a new cluster,")
	fmt.Fprintln(w, "one that holds no user or image unless --force. Run 'veil snapshot save -h' for flags.")
}

// adminFlags are the flags of a command that speaks to a cluster with the
// admin token.
type adminFlags struct {
	api, keyFile, token *string
	timeout             *time.Duration
	tls                 cloudTLS
}

func addAdminFlags(fl *flag.FlagSet, timeout time.Duration) adminFlags {
	return adminFlags{
		api:     fl.String("api", "", "API address of any node"),
		keyFile: fl.String("key-file", "", "the cluster's master key, to derive the admin token from"),
		token:   fl.String("admin-token", "", "the admin token ('veil admin-token'), instead of --key-file"),
		timeout: fl.Duration("timeout", timeout, "give up after this long"),
		tls:     addCloudTLSFlags(fl),
	}
}

// resolve returns the base URL of the node (https when --ca is given and
// --api names no scheme), the admin token, and the TLS configuration.
func (a adminFlags) resolve() (string, string, *tls.Config, error) {
	if *a.api == "" {
		return "", "", nil, usagef("%v", errNoAPI)
	}
	if (*a.keyFile == "") == (*a.token == "") {
		return "", "", nil, usagef("give the admin token, or the key file to derive it from: one of --key-file and --admin-token")
	}
	tc, err := a.tls.config()
	if err != nil {
		return "", "", nil, err
	}
	token := *a.token
	if token == "" {
		key, err := masterKey(*a.keyFile)
		if err != nil {
			return "", "", nil, err
		}
		token = cluster.AdminToken(key)
	}
	base := *a.api
	if !strings.Contains(base, "://") {
		scheme := "http://"
		if tc != nil {
			scheme = "https://"
		}
		base = scheme + base
	}
	return strings.TrimRight(base, "/"), token, tc, nil
}

// runSnapshotSave fetches GET /v1/admin/snapshot into a temporary file
// beside the one named, checks it whole, and renames it into place.
func runSnapshotSave(args []string, stdout, stderr io.Writer) int {
	const name = "snapshot save"
	fl := newFlags(name, "-o FILE --api ADDR (--key-file K | --admin-token T) [--ca FILE]", stderr)
	out := fl.String("o", "", "the backup file to write (mode 0600; written under a temporary name, checked, then renamed)")
	a := addAdminFlags(fl, 10*time.Minute)
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, name, err)
	}
	if *out == "" || fl.NArg() > 0 {
		return fail(stderr, name, usagef("-o FILE is required, and nothing else (see veil snapshot save -h)"))
	}
	base, token, tc, err := a.resolve()
	if err != nil {
		return fail(stderr, name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *a.timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+cluster.RouteSnapshot, nil)
	if err != nil {
		return fail(stderr, name, usagef("--api: %v", err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}).Do(req)
	if err != nil {
		return fail(stderr, name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(stderr, name, replyError(resp))
	}
	info, err := saveBackup(*out, resp.Body)
	if err != nil {
		return fail(stderr, name, err)
	}
	fmt.Fprintf(stdout, "saved the registry at index %d (%s users, %s images) to %s in %s\n",
		info.Index, resp.Header.Get("Veil-Backup-Users"), resp.Header.Get("Veil-Backup-Images"), *out, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "%d bytes, sha256 %s, registry crc32c %08x\n", info.Size, info.Checksum(), info.RegistryCRC)
	return exitOK
}

// saveBackup writes body to path durably: to a temporary file in its
// directory (0600), synced and checked whole, then renamed into place.
func saveBackup(path string, body io.Reader) (cluster.BackupInfo, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return cluster.BackupInfo{}, err
	}
	defer os.Remove(tmp.Name()) // once renamed, there is nothing of that name
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return cluster.BackupInfo{}, err
	}
	n, err := io.Copy(tmp, body)
	if err != nil {
		return cluster.BackupInfo{}, fmt.Errorf("receiving the backup after %d bytes: %w", n, err)
	}
	info, err := cluster.CheckBackup(tmp, n)
	if err != nil {
		return info, fmt.Errorf("the backup received is not whole, nothing was written to %s: %w", path, err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return info, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return info, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return info, err
	}
	return info, errors.Join(d.Sync(), d.Close())
}

// runSnapshotRestore checks the backup file here, then sends it with
// POST /v1/admin/restore; the cluster checks it again before it changes
// anything.
func runSnapshotRestore(args []string, stdout, stderr io.Writer) int {
	const name = "snapshot restore"
	fl := newFlags(name, "FILE --api ADDR (--key-file K | --admin-token T) [--ca FILE] [--force]", stderr)
	force := fl.Bool("force", false, "replace the registry of a cluster that already holds users or images")
	a := addAdminFlags(fl, 10*time.Minute)
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return flagStatus(stderr, name, err)
	}
	if len(pos) != 1 {
		return fail(stderr, name, usagef("want one backup file (see veil snapshot restore -h)"))
	}
	base, token, tc, err := a.resolve()
	if err != nil {
		return fail(stderr, name, err)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fail(stderr, name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(stderr, name, err)
	}
	info, err := cluster.CheckBackup(f, st.Size())
	if err != nil {
		return fail(stderr, name, fmt.Errorf("%s: %w; nothing was sent", pos[0], err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *a.timeout)
	defer cancel()
	u := base + cluster.RouteRestore
	if *force {
		u += "?force=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, io.NewSectionReader(f, 0, info.Size))
	if err != nil {
		return fail(stderr, name, usagef("--api: %v", err))
	}
	req.ContentLength = info.Size
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	// The cluster may refuse at once (it holds data, the token is wrong):
	// then the file is not sent.
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ExpectContinueTimeout: 10 * time.Second}}
	resp, err := client.Do(req)
	if err != nil {
		return fail(stderr, name, fmt.Errorf("%w; if the file reached the cluster it may have been restored: see GET /v1/status, registry.commit_index", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(stderr, name, replyError(resp))
	}
	var res cluster.RestoreReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return fail(stderr, name, fmt.Errorf("the cluster restored the backup, but its reply does not read: %w", err))
	}
	fmt.Fprintf(stdout, "restored the registry of index %d (%d users, %d images) from %s\n", res.BackupIndex, res.Users, res.Images, pos[0])
	switch {
	case res.RaftIndex != 0:
		fmt.Fprintf(stdout, "%s installed it at Raft index %d in %.1f ms; a quorum of %d holds it, the others get it as a snapshot\n",
			res.Node, res.RaftIndex, res.TookMS, res.Voters)
	default:
		at := strconv.FormatUint(res.Index, 10)
		if res.Rebased {
			at += " (the cluster's log was past the backup's index)"
		}
		held := fmt.Sprintf("every node (%d) holds it", res.Voters)
		if len(res.Holding) < res.Voters {
			held = fmt.Sprintf("%d of %d nodes hold it, the others get it as a snapshot", len(res.Holding), res.Voters)
		}
		fmt.Fprintf(stdout, "%s installed it at index %s in %.1f ms; %s\n", res.Node, at, res.TookMS, held)
	}
	if res.ReplacedUsers+res.ReplacedImages > 0 {
		fmt.Fprintf(stdout, "replaced %d users and %d images\n", res.ReplacedUsers, res.ReplacedImages)
	}
	return exitOK
}

// backupCodes are the error codes of the backup routes, as the errors the
// cluster package names them.
var backupCodes = map[string]error{
	"not_empty":    cluster.ErrNotEmpty,
	"bad_backup":   cluster.ErrBadBackup,
	"unauthorized": cluster.ErrUnauthorized,
}

// replyFailure is a refusal from the cluster: its code and message, and
// the error the code names.
type replyFailure struct {
	status        int
	code, message string
}

func (e *replyFailure) Error() string {
	if e.code == "" {
		return fmt.Sprintf("the node answered %d: %s", e.status, e.message)
	}
	return fmt.Sprintf("%s: %s", e.code, e.message)
}

func (e *replyFailure) Unwrap() error { return backupCodes[e.code] }

// replyError reads a JSON error reply.
func replyError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		return &replyFailure{status: resp.StatusCode, message: strings.TrimSpace(string(b))}
	}
	return &replyFailure{status: resp.StatusCode, code: e.Error.Code, message: e.Error.Message}
}
