// Package compose drives a Veil cluster that docker-compose runs from the
// repository's compose.yaml: it brings a project up, finds each node's
// container and the host port of its API, cuts a container off the
// project's network and puts it back, and takes the project down with its
// volumes. It shells out to docker and to docker-compose (or, where only
// that is installed, `docker compose`), as an operator would.
package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Services are the nodes of compose.yaml, by service name.
var Services = []string{"node-1", "node-2", "node-3"}

// APIPort is the port of a node's API inside its container.
const APIPort = "8080"

// ErrNoDocker says that no Docker daemon answers.
var ErrNoDocker = errors.New("no Docker daemon answers")

// Available reports whether a Docker daemon answers; if not, the error
// wraps ErrNoDocker and says what docker said.
func Available(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: the docker command is not installed", ErrNoDocker)
	}
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: docker info: %v: %s", ErrNoDocker, err, firstLine(out))
	}
	return nil
}

// Project is one docker-compose project of compose.yaml. Its name prefixes
// every container, network and volume compose makes for it, and labels
// them, so that projects of the same file do not meet.
type Project struct {
	// File is the path of compose.yaml.
	File string
	// Name is the project name: lower-case letters, digits, '-' and '_'.
	Name string
	// Env are the variables compose.yaml reads (VEIL_KEY, VEIL_MODE,
	// VEIL_IMAGE, VEIL_PORT_1, ...) as NAME=value. They override the same
	// names in the process environment and in an .env file.
	Env []string

	compose []string // the compose command: docker-compose, or docker compose
}

// New returns the project name of the compose file file. It fails when
// neither docker-compose nor the compose plugin of docker is installed.
func New(file, name string, env []string) (*Project, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	p := &Project{File: abs, Name: name, Env: env}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		p.compose = []string{"docker-compose"}
	} else if exec.Command("docker", "compose", "version").Run() == nil {
		p.compose = []string{"docker", "compose"}
	} else {
		return nil, errors.New("compose: neither docker-compose nor the compose plugin of docker is installed")
	}
	return p, nil
}

// run runs the compose command on the project and returns its output.
func (p *Project) run(ctx context.Context, args ...string) (string, error) {
	full := append(append(append([]string(nil), p.compose[1:]...), "-f", p.File, "-p", p.Name), args...)
	cmd := exec.CommandContext(ctx, p.compose[0], full...)
	cmd.Env = append(os.Environ(), p.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s", strings.Join(p.compose, " "), strings.Join(args, " "),
			err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// docker runs a docker command and returns its output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Up creates and starts the project's containers in the background.
func (p *Project) Up(ctx context.Context) error {
	_, err := p.run(ctx, "up", "-d", "--no-build")
	return err
}

// Down removes the project's containers, network and volumes. It is for
// throwing a project away: the nodes get one second to leave the cluster
// before they are killed.
func (p *Project) Down(ctx context.Context) error {
	_, err := p.run(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "1")
	return err
}

// Logs returns the last lines of every service's log.
func (p *Project) Logs(ctx context.Context, lines int) string {
	out, err := p.run(ctx, "logs", "--no-color", "--tail", fmt.Sprint(lines))
	if err != nil {
		return out + "\n" + err.Error()
	}
	return out
}

// API returns the host address (127.0.0.1:port) a service's API is
// published at. It changes when the container is put back on the network
// and the port was left to Docker.
func (p *Project) API(ctx context.Context, service string) (string, error) {
	id, err := p.Container(ctx, service)
	if err != nil {
		return "", err
	}
	out, err := docker(ctx, "port", id, APIPort+"/tcp")
	if err != nil {
		return "", err
	}
	addr := firstLine([]byte(out))
	if addr == "" {
		return "", fmt.Errorf("compose: %s publishes no port for %s", service, APIPort)
	}
	return addr, nil
}

// Container returns the id of a service's container. It asks docker, by
// the labels compose puts on containers, rather than compose, which takes
// a second or more to start.
func (p *Project) Container(ctx context.Context, service string) (string, error) {
	out, err := docker(ctx, "container", "ls", "--all", "--quiet",
		"--filter", "label=com.docker.compose.project="+p.Name,
		"--filter", "label=com.docker.compose.service="+service)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", fmt.Errorf("compose: want one container of %s in %s, have %d", service, p.Name, len(ids))
	}
	return ids[0], nil
}

// Network is the project's network: compose names it after the project.
func (p *Project) Network() string { return p.Name + "_default" }

// Disconnect cuts a service's container off the project's network: to the
// others it is gone, while it runs on, alone.
func (p *Project) Disconnect(ctx context.Context, service string) error {
	id, err := p.Container(ctx, service)
	if err != nil {
		return err
	}
	_, err = docker(ctx, "network", "disconnect", p.Network(), id)
	return err
}

// Connect puts a service's container back on the project's network, under
// its service name. Docker gives it back its address when no other
// container took it meanwhile.
func (p *Project) Connect(ctx context.Context, service string) error {
	id, err := p.Container(ctx, service)
	if err != nil {
		return err
	}
	_, err = docker(ctx, "network", "connect", "--alias", service, p.Network(), id)
	return err
}

// Address returns the address of a service's container on the project's
// network, or "" when it is not connected.
func (p *Project) Address(ctx context.Context, service string) (string, error) {
	id, err := p.Container(ctx, service)
	if err != nil {
		return "", err
	}
	out, err := docker(ctx, "inspect", "--format",
		fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, p.Network()), id)
	return strings.TrimSpace(out), err
}

// Leftovers lists what of the project is still there: containers,
// networks and volumes labelled with its name.
func (p *Project) Leftovers(ctx context.Context) ([]string, error) {
	label := "label=com.docker.compose.project=" + p.Name
	var left []string
	for _, kind := range [][]string{
		{"container", "ls", "--all"},
		{"network", "ls"},
		{"volume", "ls"},
	} {
		out, err := docker(ctx, append(kind, "--quiet", "--filter", label)...)
		if err != nil {
			return left, err
		}
		for _, id := range strings.Fields(out) {
			left = append(left, kind[0]+" "+id)
		}
	}
	return left, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
