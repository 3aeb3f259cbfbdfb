// Command etcd is the upstream etcd server, built from the etcd release whose
// client the chosen Kubernetes release requires (versions/<minor>/go.mod). It
// only forwards to etcd's own entry point, so flags and behaviour are exactly
// etcd's.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
