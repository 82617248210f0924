"""The node types of flows, one module each, and NODE_KINDS: the one table the schema, graph and engine read."""

from __future__ import annotations

from callcontrol.core.ivr.node_kind import NodeKind
from callcontrol.core.ivr.nodes import (
    branch,
    hangup,
    hours,
    http,
    language,
    menu,
    play,
    queue,
    say,
    survey,
    transfer,
    voicemail,
)
from callcontrol.core.ivr.nodes import input as input_node
from callcontrol.core.ivr.nodes import set as set_node
from callcontrol.core.ivr.nodes.subflows import GOTO, RETURN, SUBFLOW

NODE_KINDS: tuple[NodeKind, ...] = (
    play.KIND, menu.KIND, input_node.KIND, say.KIND, set_node.KIND, branch.KIND, hours.KIND, language.KIND,
    transfer.KIND, survey.KIND, http.KIND, hangup.KIND, queue.KIND, voicemail.KIND, SUBFLOW, GOTO, RETURN,
)
KIND_BY_NAME = {kind.name: kind for kind in NODE_KINDS}  # the `type:` in a flow file -> its kind
KIND_BY_CLASS = {kind.node: kind for kind in NODE_KINDS}  # a node's dataclass -> its kind
