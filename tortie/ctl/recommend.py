"""recommend: least-privilege policies from recorded flows."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import click

from ..audit import TIER, TIER_ORDER, FlowSummary, in_scope, tier_doc, to_documents
from ..audit import recommend_policies as recommended
from ..logs import plural
from ..resources import ResourceError, is_dns_label, kind_of
from ..selector import SelectorError
from .audit import gather, kernel_flows, window_of, window_options
from .context import Fail
from .logs import cluster_of, discard_stdout


@click.command(short_help="Propose least-privilege policies from recorded flows.")
@click.argument("files", nargs=-1, metavar="[FILE|-]...")
@click.option("-n", "--namespace", help="Recommend for the workloads of this namespace.")
@click.option("--selector", help="Recommend for the workloads this selector selects (any namespace).")
@click.option("--resources", "resource_files", multiple=True, metavar="FILE",
              help="The endpoints and their labels from these resources instead of the datastore's.")
@click.option("--tier", default=TIER, show_default=True, help="The tier the policies go in.")
@click.option("--order", type=float, default=TIER_ORDER, show_default=True, help="The tier's order.")
@window_options
@click.pass_context
def recommend(ctx: click.Context, files: tuple[str, ...], namespace: str | None, selector: str | None,
              resource_files: tuple[str, ...], tier: str, order: float, since: str | None, until: str | None,
              year: int | None, client_config: str | None) -> None:
    """Propose least-privilege policies for the workloads of a namespace or selector, from
    the flows in FILEs (flow log records and kernel LOG lines; - or none: standard input):
    one StagedNetworkPolicy per workload group (same namespace and labels, less per-pod
    ones), in a tier of its own, allowing exactly the flows seen and denying the rest at
    the end of the tier. Peers are named by labels where an endpoint owns the address,
    by CIDR where none does; ports are merged into ranges; a comment on each rule says how
    many flows it covers. Check them with tortie validate -f, stage them with tortie apply
    -f, see which recorded flows they change with tortie audit replay, then enforce each
    with tortie promote snp NAME -n NAMESPACE.

    Resources that do not validate are skipped and named on standard error.

    Exit status: 0 when every input was read, 1 when one or a --resources file could not
    be (then nothing is written on standard output).
    """
    if (namespace is None) == (selector is None):
        raise Fail("recommend: give one of --namespace NS or --selector SELECTOR")
    check_options(namespace, tier, order)
    now = time.time()
    window = window_of(since, until, now)
    cluster = cluster_of(ctx, resource_files, client_config, "recommend")
    for problem in cluster.problems:
        click.echo(f"recommend: {problem}", err=True)
    try:
        scope = in_scope(cluster, namespace, selector)
    except SelectorError as exc:
        raise Fail(f"recommend: --selector: {exc}") from None
    summary = FlowSummary()
    kernel = kernel_flows(None, None, year or datetime.now(UTC).year, summary)
    flows = (f for f in gather(ctx, files, kernel, summary, "recommend") if window.holds(f))
    result = recommended(cluster, flows, scope)
    if ctx.meta.get("failed"):
        ctx.exit(1)
    try:
        click.echo(to_documents(result, tier, order), nl=False)
    except BrokenPipeError:
        discard_stdout()
    made, addresses = len(result.groups()), len(scope)
    text = (f"{result.flows:,} {plural(result.flows, 'flow')} of {addresses:,} endpoint "
            f"{plural(addresses, 'address', 'addresses')} in scope make {made:,} {plural(made, 'policy', 'policies')}")
    if result.unusable:
        text += f" ({result.unusable:,} {plural(result.unusable, 'flow')} without both addresses or dropped, left out)"
    click.echo(f"recommend: {summary}; {text}", err=True)


def check_options(namespace: str | None, tier: str, order: float) -> None:
    """Raise Fail, naming the option, for an option the recommended resources would not
    validate with (tortie validate -f): a namespace that is not a DNS label, a tier or order
    the Tier does not validate with, an order that is no number."""
    if namespace is not None and not is_dns_label(namespace):
        raise Fail(f"recommend: --namespace: {namespace!r} is not a namespace name (at most 63 lower case "
                         "letters, digits and '-', starting and ending with a letter or digit)")
    if not math.isfinite(order):
        raise Fail(f"recommend: --order: {order} is not a finite number")
    doc = tier_doc(tier, order)
    try:
        kind_of(doc).parse(doc).validated()
    except ResourceError as exc:
        lines = str(exc).splitlines()  # a validation error lists its fields one a line, after a heading
        problem = lines[1].lstrip("- ") if len(lines) > 1 else str(exc).removeprefix("error with field ")
        option = "--tier" if problem.startswith("Metadata.Name") else "--order"
        raise Fail(f"recommend: {option}: {problem}") from None
