// Command etcd is the upstream etcd server, built from the etcd release that
// k8s.io/kubernetes v1.34 is tested against (see go.mod). It only forwards to
// etcd's own entry point, so flags and behaviour are exactly etcd's.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
