package netns

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a tiny helper that runs inside a node's
// namespace: "listen ADDR" echoes lines back, "dial ADDR" exits 0 when it
// can connect within half a second.
func TestMain(m *testing.M) {
	if h := os.Getenv("NETNS_TEST_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	os.Exit(m.Run())
}

func helper(cmd string) int {
	verb, addr, _ := strings.Cut(cmd, " ")
	switch verb {
	case "listen":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintln(c, s.Text())
				}
			}()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			return 1
		}
		c.Close()
		return 0
	}
	return 2
}

func newNet(t *testing.T, n int) *Net {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nt, err := New(ctx, n, t.Logf)
	if err != nil {
		t.Skipf("network namespaces cannot be made here: %v", err)
	}
	t.Cleanup(func() {
		if err := nt.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if _, err := os.Stat("/run/netns/" + nt.hub); err == nil {
			t.Errorf("namespace %s is still there after Close", nt.hub)
		}
	})
	return nt
}

// listen runs an echo server in node i's namespace until the test ends.
func listen(t *testing.T, nt *Net, i int) string {
	t.Helper()
	addr := net.JoinHostPort(nt.Addr(i).String(), "9000")
	cmd := nt.Command(i, os.Args[0])
	cmd.Env = append(os.Environ(), "NETNS_TEST_HELPER=listen "+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper in %s did not start: %q", nt.Namespace(i), line)
	}
	return addr
}

// canDial reports whether node from can open a TCP connection to addr.
func canDial(t *testing.T, nt *Net, from int, addr string) bool {
	t.Helper()
	cmd := nt.Command(from, os.Args[0])
	cmd.Env = append(os.Environ(), "NETNS_TEST_HELPER=dial "+addr)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return err == nil
}

func TestCutDropsTrafficBetweenTwoNodesOnlyUntilHeal(t *testing.T) {
	nt := newNet(t, 3)
	ctx := t.Context()
	addr := listen(t, nt, 0)
	if !canDial(t, nt, 1, addr) || !canDial(t, nt, 2, addr) {
		t.Fatal("before any fault, the nodes cannot reach node 0")
	}
	if err := nt.Cut(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if canDial(t, nt, 1, addr) {
		t.Error("node 1 reaches node 0 across a cut")
	}
	if !canDial(t, nt, 2, addr) {
		t.Error("node 2 lost node 0, though only 0-1 was cut")
	}
	// Clients in the hub keep reaching a node whatever its peers see.
	c, err := nt.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("the hub cannot reach node 0: %v", err)
	}
	fmt.Fprintln(c, "hello")
	if line, _ := bufio.NewReader(c).ReadString('\n'); line != "hello\n" {
		t.Errorf("echo from node 0 through the hub: %q", line)
	}
	c.Close()
	if err := nt.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if !canDial(t, nt, 1, addr) {
		t.Error("node 1 cannot reach node 0 after Heal")
	}
}

func TestPartitionLeavesTheBridgeNodeSeeingBothSides(t *testing.T) {
	nt := newNet(t, 3)
	ctx := t.Context()
	a0, a2 := listen(t, nt, 0), listen(t, nt, 2)
	if err := nt.Partition(ctx, []int{0}, []int{2}); err != nil {
		t.Fatal(err)
	}
	if canDial(t, nt, 2, a0) || canDial(t, nt, 0, a2) {
		t.Error("the two sides reach each other")
	}
	if !canDial(t, nt, 1, a0) || !canDial(t, nt, 1, a2) {
		t.Error("the bridge node does not see both sides")
	}
}

func TestLinkDownCutsClientsToo(t *testing.T) {
	nt := newNet(t, 2)
	ctx := t.Context()
	addr := listen(t, nt, 0)
	if err := nt.SetLink(ctx, 0, false); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if c, err := nt.DialContext(dctx, "tcp", addr); err == nil {
		c.Close()
		t.Error("the hub reaches a node whose link is down")
	}
	if err := nt.Heal(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if !canDial(t, nt, 1, addr) {
		t.Error("the link did not come back with Heal")
	}
}

func TestLossRejectsAProbabilityOutOfRange(t *testing.T) {
	nt := &Net{}
	if err := nt.Loss(t.Context(), 0, 1.5); err == nil {
		t.Error("loss 1.5 accepted")
	}
}

func TestRemoveStaleKeepsTheNamespacesOfLiveRuns(t *testing.T) {
	nt := newNet(t, 1)
	if _, err := RemoveStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + nt.hub); err != nil {
		t.Errorf("RemoveStale removed the namespace of this live run: %v", err)
	}
}
