// Certificates for TLS tests, made at test time with the machine's `openssl` (never committed):
// a CA, and leaf certificates it signs for 127.0.0.1 and localhost, usable as server and client.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestCa {
  readonly dir: string;
  /** The CA certificate (PEM file). */
  readonly ca: string;
  /** Makes a leaf certificate signed by this CA. */
  leaf(name: string, altNames?: string): CertFiles;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A fresh CA in its own temporary folder (remove it with `removeCa`). */
export function makeCa(name: string): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `raft-lease-tls-${name}-`));
  openssl(["req", "-x509", ...EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", `/CN=${name}`], dir);
  return {
    dir,
    ca: path.join(dir, "ca.crt"),
    leaf(leafName: string, altNames = "IP:127.0.0.1,DNS:localhost"): CertFiles {
      const ext = path.join(dir, `${leafName}.ext`);
      fs.writeFileSync(ext, `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`);
      openssl(["req", ...EC_KEY, "-keyout", `${leafName}.key`, "-out", `${leafName}.csr`, "-subj", `/CN=${leafName}`], dir);
      openssl(["x509", "-req", "-in", `${leafName}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${leafName}.crt`, "-days", "2", "-extfile", ext], dir);
      return { cert: path.join(dir, `${leafName}.crt`), key: path.join(dir, `${leafName}.key`) };
    },
  };
}

export function removeCa(ca: TestCa | null): void {
  if (ca !== null) fs.rmSync(ca.dir, { recursive: true, force: true });
}
