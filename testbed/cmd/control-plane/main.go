// Command control-plane starts and stops a real Kubernetes control plane on loopback for
// the tests, the benchmarks and anyone who wants to try the plugin on a real API server:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, all built from one
// Kubernetes release by scripts/control-plane (which builds this command too), and
// kubelet-exec, the exec endpoint of rook-sim's simulated kubelets (cmd/kubelet-exec).
//
//	control-plane up DIR [--bin BIN] [--owner-pid PID]   start; print `export KUBECONFIG=DIR/admin.kubeconfig`
//	control-plane down DIR                               stop exactly what `up` started (DIR/pids)
//
// DIR holds everything: etcd's data, the PKI, the token file, the logs, the PIDs and one
// kubeconfig per user (admin, editor, viewer, certuser). With --owner-pid, a small reaper
// stops the control plane and removes DIR once that process has exited, so a test binary
// that is killed leaves nothing running.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The token users. editor and viewer have no rights until a test or an operator binds
// deploy/rbac.yaml's roles to them; admin is in system:masters. The controller-manager
// and scheduler authenticate as the users kubeadm gives them, so the bootstrap RBAC
// policy applies to them as on a kubeadm cluster.
var tokenUsers = []struct{ name, groups string }{
	{"admin", "system:masters"},
	{"editor", ""},
	{"viewer", ""},
	{"system:kube-controller-manager", ""},
	{"system:kube-scheduler", ""},
	// rook-sim's simulated Rook operator and kubelets (`demo --serve --on`), apart from the
	// people, so the audit log tells their writes from the plugin's.
	{"rook-sim", "system:masters"},
	// kubelet-exec, which reads the namespaces' rook-sim.io/kubelet-exec annotation.
	{"rook-sim-kubelet", "system:masters"},
}

// Every request of the people and of rook-sim, at Metadata level (verb, URI with its query,
// user, response code), in DIR/audit.log: the real server's request log, which tests read
// to prove what was and was not sent. The control plane's own components are left out.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver", "rook-sim-kubelet"]
- level: None
  userGroups: ["system:serviceaccounts", "system:nodes"]
- level: Metadata
`

// The controllers the tests rely on (issue 20): Deployments roll through ReplicaSets,
// namespaces are deleted with their contents, owners' dependents are collected, every
// namespace gets its default ServiceAccount and token. nodelifecycle marks a node whose
// kubelet stops reporting NotReady, as on a real cluster; podgc removes pods of deleted nodes.
const controllers = "deployment-controller,replicaset-controller,namespace-controller,garbage-collector-controller," +
	"serviceaccount-controller,serviceaccount-token-controller,node-lifecycle-controller,pod-garbage-collector-controller"

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	cmd, dir := os.Args[1], os.Args[2]
	bin, owner := "", 0
	args := os.Args[3:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--bin":
			i++
			if i < len(args) {
				bin = args[i]
			}
		case "--owner-pid":
			i++
			if i < len(args) {
				n, err := strconv.Atoi(args[i])
				if err != nil || n <= 0 {
					fail(2, "--owner-pid wants a process id, got %q", args[i])
				}
				owner = n
			}
		default:
			usage()
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		fail(2, "%v", err)
	}
	switch cmd {
	case "up":
		if bin == "" {
			bin = filepath.Dir(os.Args[0])
		}
		if err := up(abs, bin, owner); err != nil {
			_ = down(abs)
			fail(1, "control plane did not start: %v (logs in %s)", err, filepath.Join(abs, "logs"))
		}
		fmt.Printf("export KUBECONFIG=%s\n", filepath.Join(abs, "admin.kubeconfig"))
	case "down":
		if err := down(abs); err != nil {
			fail(1, "%v", err)
		}
	case "reap":
		reap(abs, owner)
	default:
		usage()
	}
}

func usage() {
	fail(2, "usage: control-plane up DIR [--bin BIN] [--owner-pid PID] | control-plane down DIR")
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "control-plane: "+format+"\n", a...)
	os.Exit(code)
}

// Ports are taken from the kernel (bind to :0), then released and handed to the
// components. All are held until every one is chosen: released one by one, the kernel may
// hand the same port out twice (etcd and kube-apiserver on one port was seen: "server gave
// HTTP response to HTTPS client"). Another process could still take one before its
// component binds it; the start then fails and says which.
func freePorts(n int) ([]int, error) {
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func up(dir, bin string, owner int) error {
	if _, err := os.Stat(filepath.Join(dir, "pids")); err == nil {
		return fmt.Errorf("%s already holds a control plane (run `down` first)", dir)
	}
	for _, d := range []string{"etcd", "pki", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet-exec"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("%s is missing in %s (scripts/control-plane builds it)", b, bin)
		}
	}
	pki := filepath.Join(dir, "pki")
	if err := writePKI(pki); err != nil {
		return fmt.Errorf("PKI: %w", err)
	}
	tokens := map[string]string{}
	var csv strings.Builder
	for i, u := range tokenUsers {
		t := randomHex(24)
		tokens[u.name] = t
		fmt.Fprintf(&csv, "%s,%s,%d", t, u.name, 1000+i)
		if u.groups != "" {
			fmt.Fprintf(&csv, ",\"%s\"", u.groups)
		}
		csv.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(csv.String()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, "audit-policy.yaml"), []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	names := []string{"etcd-client", "etcd-peer", "apiserver", "kubelet"}
	free, err := freePorts(len(names))
	if err != nil {
		return err
	}
	ports := map[string]int{}
	for i, n := range names {
		ports[n] = free[i]
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-client"])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-peer"])
	server := fmt.Sprintf("https://127.0.0.1:%d", ports["apiserver"])
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return err
	}
	for name, t := range tokens {
		file := strings.TrimPrefix(name, "system:kube-")
		if err := os.WriteFile(filepath.Join(dir, file+".kubeconfig"), []byte(kubeconfig(server, ca, name, "token: "+t)), 0o600); err != nil {
			return err
		}
	}
	crt, _ := os.ReadFile(filepath.Join(pki, "certuser.crt"))
	key, _ := os.ReadFile(filepath.Join(pki, "certuser.key"))
	certAuth := fmt.Sprintf("client-certificate-data: %s\n    client-key-data: %s",
		base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))
	if err := os.WriteFile(filepath.Join(dir, "certuser.kubeconfig"), []byte(kubeconfig(server, ca, "certuser", certAuth)), 0o600); err != nil {
		return err
	}

	pids := &pidFile{path: filepath.Join(dir, "pids")}
	if err := pids.start(dir, bin, "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// A test cluster: losing it on a power cut costs nothing, and fsync costs seconds.
		"--unsafe-no-fsync",
		"--log-level=warn",
	); err != nil {
		return err
	}
	if err := waitHTTP(etcdURL+"/health", nil, 30*time.Second); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if err := pids.start(dir, bin, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports["apiserver"]),
		"--cert-dir="+filepath.Join(dir, "apiserver"),
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=Node,RBAC",
		// kubeadm's: the default admission plugins (ServiceAccount among them) plus NodeRestriction.
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		// The kubernetes Service's endpoints cannot name a loopback address.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--audit-policy-file="+filepath.Join(pki, "audit-policy.yaml"),
		"--audit-log-path="+filepath.Join(dir, "audit.log"),
		"--audit-log-format=json",
		// Written before the answer is sent, so a test reads every request its command made.
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
		// exec, attach, logs and port-forward go to the node's kubelet, at the address and
		// port its Node reports (rook-sim's nodes: 127.0.0.1 and kubelet-exec's port), with
		// this client certificate, its serving certificate checked against the cluster CA.
		"--kubelet-client-certificate="+filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+filepath.Join(pki, "apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+filepath.Join(pki, "ca.crt"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
	); err != nil {
		return err
	}
	adminHdr := map[string]string{"Authorization": "Bearer " + tokens["admin"]}
	if err := waitHTTP(server+"/readyz", adminHdr, 60*time.Second); err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	if err := pids.start(dir, bin, "kube-controller-manager",
		"--kubeconfig="+filepath.Join(dir, "controller-manager.kubeconfig"),
		"--controllers="+controllers,
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		// As kubeadm runs it: each controller acts as its own ServiceAccount with its
		// bootstrap role (system:controller:deployment-controller, ...).
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--secure-port=0",
		// Deployments of the tests roll in a second: the default client rate limit (20
		// requests/s) makes 30 Deployments take 7 s to get their pods.
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		"--kube-api-qps=1000",
		"--kube-api-burst=2000",
		// A node whose kubelet stops renewing its Lease (rook-sim's `Sim::set_node_down`) is
		// marked NotReady (Unknown) after 10 s, not 50: the tests wait for it. rook-sim's
		// kubelets renew every second, so a busy machine (CI's 2 cores running a test
		// binary's tests at once) has nine renewals to spare before nodes flap NotReady.
		"--node-monitor-period=1s",
		"--node-monitor-grace-period=10s",
	); err != nil {
		return err
	}
	if err := pids.start(dir, bin, "kube-scheduler",
		"--kubeconfig="+filepath.Join(dir, "scheduler.kubeconfig"),
		"--leader-elect=false",
		"--kube-api-qps=1000",
		"--kube-api-burst=2000",
		"--secure-port=0",
	); err != nil {
		return err
	}
	if err := startKubeletExec(dir, bin, pki, server, ports["kubelet"], tokens, pids); err != nil {
		return err
	}
	// The control plane is usable once the controllers work: the serviceaccount controller
	// has made the default namespace's ServiceAccount (pods cannot be created before it).
	if err := waitHTTP(server+"/api/v1/namespaces/default/serviceaccounts/default", adminHdr, 60*time.Second); err != nil {
		return fmt.Errorf("kube-controller-manager made no default ServiceAccount: %w", err)
	}
	for _, p := range pids.entries {
		if !alive(p.pid) {
			return fmt.Errorf("%s exited", p.name)
		}
	}
	if owner > 0 {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if err := pids.start(dir, filepath.Dir(self), filepath.Base(self), "reap", dir, "--owner-pid", strconv.Itoa(owner)); err != nil {
			return err
		}
	}
	return nil
}

// startKubeletExec starts the simulated kubelets' exec endpoint and tells rook-sims where it
// is: Secret kube-system/rook-sim-kubelet holds its port (the Nodes' kubelet port) and the
// token it sends to their exec endpoints.
func startKubeletExec(dir, bin, pki, server string, port int, tokens map[string]string, pids *pidFile) error {
	execToken := randomHex(24)
	for name, t := range map[string]string{"rook-sim-kubelet.token": tokens["rook-sim-kubelet"], "kubelet-exec.token": execToken} {
		if err := os.WriteFile(filepath.Join(pki, name), []byte(t), 0o600); err != nil {
			return err
		}
	}
	if err := pids.start(dir, bin, "kubelet-exec",
		fmt.Sprintf("--port=%d", port),
		"--tls-cert="+filepath.Join(pki, "kubelet.crt"),
		"--tls-key="+filepath.Join(pki, "kubelet.key"),
		"--client-ca="+filepath.Join(pki, "ca.crt"),
		"--server="+server,
		"--server-ca="+filepath.Join(pki, "ca.crt"),
		"--token-file="+filepath.Join(pki, "rook-sim-kubelet.token"),
		"--exec-token-file="+filepath.Join(pki, "kubelet-exec.token"),
	); err != nil {
		return err
	}
	if err := waitHTTP(fmt.Sprintf("https://127.0.0.1:%d/healthz", port), nil, 30*time.Second); err != nil {
		return fmt.Errorf("kubelet-exec: %w", err)
	}
	secret := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "rook-sim-kubelet", "namespace": "kube-system"},
		"stringData": map[string]string{"port": strconv.Itoa(port), "token": execToken},
	}
	return post(server, tokens["admin"], filepath.Join(pki, "ca.crt"), "/api/v1/namespaces/kube-system/secrets", secret)
}

// post creates an object as `token`, the server's certificate checked against the CA.
func post(server, token, caFile, path string, obj any) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, server+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

func kubeconfig(server string, ca []byte, user, auth string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: control-plane
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: %s
  context:
    cluster: control-plane
    user: %s
current-context: %s
users:
- name: %s
  user:
    %s
`, server, base64.StdEncoding.EncodeToString(ca), user, user, user, user, auth)
}

type proc struct {
	name string
	pid  int
}

type pidFile struct {
	path    string
	entries []proc
}

// start runs BIN/NAME in its own session (it outlives `up`), output in DIR/logs/NAME.log,
// and records its PID before anything else can fail.
func (f *pidFile) start(dir, bin, name string, args ...string) error {
	log, err := os.OpenFile(filepath.Join(dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	f.entries = append(f.entries, proc{name, cmd.Process.Pid})
	var b strings.Builder
	for _, p := range f.entries {
		fmt.Fprintf(&b, "%d %s\n", p.pid, p.name)
	}
	// Atomically (a temporary file renamed over it): the reaper, started by this very call,
	// reads the file at once, and a truncate-then-write let it read it empty.
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is not alive (its parent, this process, has not reaped it yet).
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// ours: PID still runs a program started for DIR (a PID the kernel recycled is left alone).
func ours(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(dir))
}

func readPids(dir string) []proc {
	b, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		return nil
	}
	var procs []proc
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var p proc
		if _, err := fmt.Sscanf(line, "%d %s", &p.pid, &p.name); err == nil {
			procs = append(procs, p)
		}
	}
	return procs
}

// stop ends the processes in the reverse of their start (the reaper, if any, first):
// SIGTERM, then SIGKILL after 10 s. A PID that no longer runs a program of DIR is left alone.
func stop(procs []proc, dir string) {
	self := os.Getpid()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.pid != self && ours(p.pid, dir) {
			_ = syscall.Kill(p.pid, syscall.SIGTERM)
			deadline := time.Now().Add(10 * time.Second)
			for alive(p.pid) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if alive(p.pid) {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	}
}

func down(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "pids")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	stop(readPids(dir), dir)
	return os.Remove(filepath.Join(dir, "pids"))
}

// reap waits for the owner to exit, then stops the control plane and removes DIR. The
// components' PIDs are read at the start and kept: a DIR removed by someone else does not
// leave them running.
func reap(dir string, owner int) {
	procs := readPids(dir)
	for alive(owner) {
		if _, err := os.Stat(filepath.Join(dir, "pids")); err != nil {
			if errors.Is(err, os.ErrNotExist) && dirExists(dir) {
				return // stopped by `down`
			}
			break // DIR is gone: stop what was started anyway
		}
		time.Sleep(500 * time.Millisecond)
	}
	// What the file says now as well: the components' PIDs, even if the first read missed
	// them.
	for _, p := range readPids(dir) {
		known := false
		for _, q := range procs {
			known = known || q.pid == p.pid
		}
		if !known {
			procs = append(procs, p)
		}
	}
	stop(procs, dir)
	_ = os.RemoveAll(dir)
}

func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}

func waitHTTP(url string, hdr map[string]string, limit time.Duration) error {
	pool := x509.NewCertPool()
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The apiserver's certificate is checked against DIR's CA by every client that
		// matters; here only "is it up" is asked.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, RootCAs: pool}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body[:n])))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %s", limit, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// writePKI writes the cluster CA, the apiserver's serving certificate, the certuser client
// certificate (CN=certuser), kubelet-exec's certificates and the service-account signing
// key pair.
func writePKI(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubectl-ceph-image-testbed-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	if err := writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER); err != nil {
		return err
	}
	leaf := func(name string, serial int64, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now, now.Add(10*365*24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kb)
	}
	if err := leaf("apiserver", 2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
	}); err != nil {
		return err
	}
	if err := leaf("certuser", 3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "certuser"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	// kubelet-exec's serving certificate, for the address the Nodes report, and the
	// kube-apiserver's client certificate toward kubelets (kubeadm's names).
	if err := leaf("kubelet", 4, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "rook-sim-kubelet"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}); err != nil {
		return err
	}
	if err := leaf("apiserver-kubelet-client", 5, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"kubeadm:cluster-admins"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa)); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
