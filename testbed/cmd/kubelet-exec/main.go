// Command kubelet-exec is the exec endpoint of the simulated nodes' kubelets (issue 23
// item 7): the kubelet's `/exec/{namespace}/{pod}/{container}`, over HTTPS, served by
// Kubernetes' own remotecommand server (k8s.io/cri-streaming, what the kubelet and the
// CRI runtimes use: SPDY v1-v4 and WebSocket), so `kubectl exec` and any other client reach
// a simulated pod through the real kube-apiserver as they reach a real one.
//
// There is no container: the command goes to the rook-sim that runs the pod, which answers
// as the pod's container would (rook_sim::ceph::exec). Several rook-sims share one control
// plane and its nodes, each with its own namespaces; each writes the URL of its exec
// endpoint on its namespaces (annotation rook-sim.io/kubelet-exec), and this server sends
// a pod's command to the URL of the pod's namespace, with the token the control plane gave
// both (Secret kube-system/rook-sim-kubelet).
//
// control-plane `up` starts it; every simulated Node names its port
// (status.daemonEndpoints.kubeletEndpoint.Port), and the kube-apiserver dials it with its
// kubelet client certificate, checked here against the cluster CA as a kubelet's
// --client-ca-file does.
//
//	kubelet-exec --port P --tls-cert F --tls-key F --client-ca F --server URL --token-file F --exec-token-file F
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// The annotation on a namespace naming the exec endpoint of the rook-sim that runs its pods.
const annotation = "rook-sim.io/kubelet-exec"

// As a kubelet's defaults: --streaming-connection-idle-timeout 4h, and the CRI streaming
// server's stream creation timeout.
const (
	idleTimeout           = 4 * time.Hour
	streamCreationTimeout = remotecommandserver.DefaultStreamCreationTimeout
)

type server struct {
	api       string
	apiToken  string
	apiClient *http.Client
	execToken string
	sim       *http.Client
}

func main() {
	port := flag.Int("port", 0, "the port to serve on (127.0.0.1)")
	cert := flag.String("tls-cert", "", "the serving certificate (PEM)")
	key := flag.String("tls-key", "", "its key (PEM)")
	clientCA := flag.String("client-ca", "", "the CA of the client certificates accepted on /exec (the kube-apiserver's)")
	api := flag.String("server", "", "the kube-apiserver's URL (to read the namespaces' annotation)")
	apiCA := flag.String("server-ca", "", "the kube-apiserver's CA (PEM)")
	tokenFile := flag.String("token-file", "", "the bearer token to the kube-apiserver")
	execTokenFile := flag.String("exec-token-file", "", "the bearer token sent to rook-sim's exec endpoints")
	flag.Parse()
	if *port == 0 || *cert == "" || *key == "" || *clientCA == "" || *api == "" || *apiCA == "" || *tokenFile == "" || *execTokenFile == "" {
		fmt.Fprintln(os.Stderr, "kubelet-exec: every flag is needed (see -h)")
		os.Exit(2)
	}
	read := func(f string) []byte {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubelet-exec: %v\n", err)
			os.Exit(1)
		}
		return b
	}
	pool := func(f string) *x509.CertPool {
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(read(f)) {
			fmt.Fprintf(os.Stderr, "kubelet-exec: no certificate in %s\n", f)
			os.Exit(1)
		}
		return p
	}
	s := &server{
		api:       strings.TrimSuffix(*api, "/"),
		apiToken:  strings.TrimSpace(string(read(*tokenFile))),
		apiClient: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(*apiCA)}}},
		execToken: strings.TrimSpace(string(read(*execTokenFile))),
		// rook-sim answers on loopback; a command may take as long as Ceph's does
		sim: &http.Client{Timeout: 10 * time.Minute},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", s.exec)
	mux.HandleFunc("/exec/{namespace}/{pod}/{uid}/{container}", s.exec)
	srv := &http.Server{
		Addr:    fmt.Sprintf("127.0.0.1:%d", *port),
		Handler: mux,
		TLSConfig: &tls.Config{
			ClientCAs: pool(*clientCA),
			// /healthz answers anyone (control-plane `up` waits on it); /exec checks below
			ClientAuth: tls.VerifyClientCertIfGiven,
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 30 * time.Second,
	}
	if err := srv.ListenAndServeTLS(*cert, *key); err != nil {
		fmt.Fprintf(os.Stderr, "kubelet-exec: %v\n", err)
		os.Exit(1)
	}
}

// The pod as rook-sim sees it, asked before the streams are made (as a kubelet finds the
// container before it hands the exec to the runtime).
type target struct {
	Namespace string   `json:"namespace"`
	Pod       string   `json:"pod"`
	Container string   `json:"container"`
	Command   []string `json:"command"`
	// Run: false only asks whether the container is there to run it.
	Run bool `json:"run"`
}

type outcome struct {
	Stdout   []byte `json:"stdout"`
	Stderr   []byte `json:"stderr"`
	ExitCode int    `json:"exitCode"`
	Message  string `json:"message"`
}

// errNodeDown: rook-sim says the pod's node is down; its kubelet does not answer.
var errNodeDown = errors.New("node down")

func (s *server) exec(w http.ResponseWriter, req *http.Request) {
	// As a kubelet with webhook authentication off and x509 on: only a client certificate
	// of the cluster CA (the kube-apiserver's) may exec.
	if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	t := target{
		Namespace: req.PathValue("namespace"),
		Pod:       req.PathValue("pod"),
		Container: req.PathValue("container"),
		Command:   req.URL.Query()["command"],
	}
	opts, err := remotecommandserver.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	endpoint, err := s.endpoint(req.Context(), t.Namespace)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if endpoint == "" {
		// no rook-sim runs this namespace's pods: no pod of it is on these nodes
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	}
	if _, code, err := s.ask(req.Context(), endpoint, t); err != nil {
		if errors.Is(err, errNodeDown) {
			hangUp(w)
			return
		}
		// the kubelet's answers: 404 "pod does not exist", 500 `container not found ("c")`
		http.Error(w, err.Error(), code)
		return
	}
	t.Run = true
	remotecommandserver.ServeExec(w, req, executor{s, endpoint, t}, t.Pod, "", t.Container, t.Command,
		opts, idleTimeout, streamCreationTimeout, remotecommandserver.SupportedStreamingProtocols)
}

// hangUp closes the connection without an answer: the pod's node is down, and a kubelet
// that is gone answers nothing.
func hangUp(w http.ResponseWriter) {
	if h, ok := w.(http.Hijacker); ok {
		if conn, _, err := h.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	http.Error(w, "the node is down", http.StatusBadGateway)
}

// endpoint reads the rook-sim exec URL of a namespace ("" when it has none).
func (s *server) endpoint(ctx context.Context, ns string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/api/v1/namespaces/"+url.PathEscape(ns), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.apiToken)
	req.Header.Set("Accept", "application/json")
	resp, err := s.apiClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot read namespace %s: %w", ns, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cannot read namespace %s: %s", ns, resp.Status)
	}
	var obj struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&obj); err != nil {
		return "", fmt.Errorf("namespace %s: %w", ns, err)
	}
	return obj.Metadata.Annotations[annotation], nil
}

// ask sends t to rook-sim: its outcome, or the HTTP status and message of its refusal
// (errNodeDown for 503).
func (s *server) ask(ctx context.Context, endpoint string, t target) (*outcome, int, error) {
	body, _ := json.Marshal(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/exec", bytes.NewReader(body))
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	req.Header.Set("Authorization", "Bearer "+s.execToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.sim.Do(req)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("the simulated container runtime does not answer: %w", err)
	}
	defer resp.Body.Close()
	var out outcome
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("the simulated container runtime: %s: %w", resp.Status, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return &out, http.StatusOK, nil
	case http.StatusServiceUnavailable:
		return nil, resp.StatusCode, errNodeDown
	default:
		return nil, resp.StatusCode, errors.New(out.Message)
	}
}

// executor runs the command in rook-sim and copies its output back, as a CRI runtime's
// exec does; a non-zero exit reaches the client as the kubelet reports it.
type executor struct {
	s        *server
	endpoint string
	t        target
}

func (e executor) ExecInContainer(ctx context.Context, _ string, _ string, _ string, _ []string, in io.Reader, stdout, stderr io.WriteCloser, tty bool, _ <-chan remotecommandserver.TerminalSize, _ time.Duration) error {
	// the simulated commands read no input: what the client sends is taken and dropped, so
	// it is never left blocked writing
	if in != nil {
		go func() { _, _ = io.Copy(io.Discard, in) }()
	}
	out, _, err := e.s.ask(ctx, e.endpoint, e.t)
	if err != nil {
		return err
	}
	if stdout != nil {
		_, _ = stdout.Write(out.Stdout)
	}
	switch {
	case stderr != nil:
		_, _ = stderr.Write(out.Stderr)
	case tty && stdout != nil:
		// a terminal has one stream: stderr goes where stdout goes
		_, _ = stdout.Write(out.Stderr)
	}
	if out.ExitCode != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", out.ExitCode), Code: out.ExitCode}
	}
	return nil
}
