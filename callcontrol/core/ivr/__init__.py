"""IVR flows, the package's public surface: the flow model, its validation, the effects and the step engine.

Callers import from here (callcontrol.core.ivr); the modules inside are arranged by job: model, checker and
schema (validation), graph, effects, state, environment, walking and engine, and nodes/ (one module per node
type, registered in nodes.NODE_KINDS).
"""

from callcontrol.core.ivr.checker import DocumentChecker
from callcontrol.core.ivr.effects import (
    Callback,
    CollectDigit,
    CollectDigits,
    DigitPressed,
    DigitsEntered,
    Done,
    Effect,
    Enqueue,
    HttpAnswered,
    HttpFailed,
    HttpRequest,
    LeaveVoicemail,
    NoInput,
    Outcome,
    Play,
    PlayAndHangUp,
    QueueAnnouncements,
    QueueLeft,
    Say,
    SetLanguage,
    Transfer,
    TransferEnded,
    VoicemailEnded,
)
from callcontrol.core.ivr.engine import MAX_STEPS_PER_CALL, advance, start
from callcontrol.core.ivr.environment import QUEUE_STATUS_FIELDS, QueueStatus, expression_env
from callcontrol.core.ivr.graph import node_exits, node_expressions, prompt_references, reachable_nodes
from callcontrol.core.ivr.model import DIGITS, Allow, Flow, Node, Problem, Schedule
from callcontrol.core.ivr.nodes.branch import BranchNode
from callcontrol.core.ivr.nodes.hangup import HangupNode
from callcontrol.core.ivr.nodes.hours import HoursNode
from callcontrol.core.ivr.nodes.http import HttpNode
from callcontrol.core.ivr.nodes.input import InputNode
from callcontrol.core.ivr.nodes.language import LanguageNode
from callcontrol.core.ivr.nodes.menu import MenuNode
from callcontrol.core.ivr.nodes.play import PlayNode
from callcontrol.core.ivr.nodes.queue import CallbackOption, QueueNode
from callcontrol.core.ivr.nodes.say import SayNode
from callcontrol.core.ivr.nodes.set import SetNode
from callcontrol.core.ivr.nodes.subflows import GotoNode, ReturnNode, SubflowNode, check_flow_references
from callcontrol.core.ivr.nodes.survey import SurveyNode, SurveyQuestion
from callcontrol.core.ivr.nodes.transfer import TransferNode
from callcontrol.core.ivr.nodes.voicemail import VoicemailNode
from callcontrol.core.ivr.schema import build_flow
from callcontrol.core.ivr.state import FlowError, IvrState, PathResult, PathStep, Step, finish

__all__ = [
    "DIGITS", "MAX_STEPS_PER_CALL", "QUEUE_STATUS_FIELDS",
    # the flow model
    "Allow", "Flow", "Node", "Problem", "Schedule",
    "BranchNode", "CallbackOption", "GotoNode", "HangupNode", "HoursNode", "HttpNode", "InputNode", "LanguageNode",
    "MenuNode", "PlayNode", "QueueNode", "ReturnNode", "SayNode", "SetNode", "SubflowNode", "SurveyNode",
    "SurveyQuestion", "TransferNode", "VoicemailNode",
    # validation and the flow as a graph
    "DocumentChecker", "build_flow", "check_flow_references", "node_exits", "node_expressions", "prompt_references",
    "reachable_nodes",
    # effects and outcomes
    "Callback", "CollectDigit", "CollectDigits", "Effect", "Enqueue", "HttpRequest", "LeaveVoicemail", "Play",
    "PlayAndHangUp", "QueueAnnouncements", "Say", "SetLanguage", "Transfer",
    "DigitPressed", "DigitsEntered", "Done", "HttpAnswered", "HttpFailed", "NoInput", "Outcome", "QueueLeft",
    "TransferEnded", "VoicemailEnded",
    # the engine
    "FlowError", "IvrState", "PathResult", "PathStep", "QueueStatus", "Step", "advance", "expression_env", "finish",
    "start",
]
