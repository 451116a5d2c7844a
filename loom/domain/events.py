"""Every event Loom records: the base class and the whole catalog.

Events are past-tense facts with dotted lowercase wire names. A shipped event is
never changed in place: add a field by raising ``class_version`` and writing an
upcaster, rename by listing the old name in ``former_types`` (see
``docs/adr/0003-event-naming-and-versioning.md``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loom.domain.eventbase import (
    ENVELOPE_FIELDS,
    BlobHash,
    Context,
    Event,
    StreamCursor,
    event_class,
    registered_types,
)

__all__ = [
    "ENVELOPE_FIELDS",
    "AgentFinished",
    "AgentStarted",
    "ApprovalGranted",
    "ApprovalRefused",
    "ApprovalRequested",
    "BlobHash",
    "ChangeReverted",
    "Context",
    "ContextTrimmed",
    "DoomLoopDetected",
    "Escalated",
    "Event",
    "FeedbackGiven",
    "FileChanged",
    "FileRead",
    "FileSnapshotted",
    "LearningReset",
    "ModelCallCompleted",
    "ModelCallFailed",
    "ModelCallStarted",
    "ModelCallWarned",
    "PatternLearned",
    "PlanProposed",
    "PlannedSubtask",
    "Replanned",
    "SessionEnded",
    "SessionResumed",
    "SessionStarted",
    "StreamCursor",
    "SubtaskCompleted",
    "SubtaskFailed",
    "SubtaskRetried",
    "SubtaskStarted",
    "TaskCancelRequested",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskFailed",
    "TaskStarted",
    "TodoItem",
    "TodoListUpdated",
    "TokenUsage",
    "TokenizerCalibrated",
    "ToolCall",
    "ToolCallApproved",
    "ToolCallCompleted",
    "ToolCallDenied",
    "ToolCallInterrupted",
    "ToolCallRequested",
    "TurnCancelled",
    "UserMessaged",
    "UserQuestionAnswered",
    "UserQuestionAsked",
    "UserSteered",
    "VerificationRecorded",
    "WorkspaceSurveyed",
    "event_class",
    "registered_types",
]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(_Value):
    """A tool call as a model asked for it."""

    id: str = Field(description="The call id (the model's, or one Loom assigned).")
    name: str = Field(description="The tool's name.")
    arguments: dict[str, Any] = Field(description="The parsed arguments.")


class TokenUsage(_Value):
    """Tokens a model call consumed."""

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class PlannedSubtask(_Value):
    """One node of a plan's dependency graph."""

    id: str
    description: str
    depends_on: list[str] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)
    expected_files: list[str] = Field(default_factory=list)
    verification_tier: int = Field(default=1, ge=1, le=3)
    checks: list[str] = Field(
        default_factory=list,
        description="Shell commands that must succeed once the subtask is done.",
    )


Actor = Literal["policy", "user"]
ChangeKind = Literal["create", "modify", "delete", "rename"]

# --- session lifecycle -----------------------------------------------------


class SessionStarted(Event):
    """A cowork session began."""

    type = "session.started"
    workspace: str = Field(description="Absolute path of the session's workspace.")
    title: str = Field(default="", description="A short human title.")
    model: str = Field(default="", description="The executor model's configured name.")
    process: str | None = Field(default=None, description="Process definition used.")
    model_id: str = Field(default="", description="The server's id of that model.")
    capabilities: dict[str, Any] | None = Field(
        default=None,
        description="What the model could do (context length, native tools...), "
        "so a replay can stand in for it.",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Limits and policies the session decides with (auto-approved "
        "kinds, loop limit, max tokens, temperature).",
    )


class SessionResumed(Event):
    """A session was continued from where it stopped."""

    type = "session.resumed"
    model: str = Field(default="", description="The executor model's configured name.")
    model_id: str = ""
    capabilities: dict[str, Any] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class SessionEnded(Event):
    """A session was closed by its user."""

    type = "session.ended"


class UserMessaged(Event):
    """The user sent a message into a session or task."""

    type = "user.messaged"
    text: str


# --- model calls -----------------------------------------------------------


class ModelCallStarted(Event):
    """A request went to a model."""

    type = "model.call.started"
    call_id: str
    role: str = Field(description="planner, executor, verifier or extractor.")
    model: str
    request: BlobHash = Field(description="The full request, stored as a blob.")
    fingerprint: str = Field(description="Stable hash of the request, for replay.")


class ModelCallCompleted(Event):
    """A model answered."""

    type = "model.call.completed"
    call_id: str
    text: str = ""
    thinking: str = Field(default="", description="Reasoning kept apart from text.")
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: TokenUsage | None = None
    latency_ms: float = Field(ge=0)
    finish_reason: str = ""


class ModelCallWarned(Event):
    """Something about a model call the user should know (e.g. a truncated prompt)."""

    type = "model.call.warned"
    call_id: str
    warning: str


class ModelCallFailed(Event):
    """A model call ended in an error."""

    type = "model.call.failed"
    call_id: str
    error: str
    retryable: bool = False


# --- tool calls ------------------------------------------------------------


class ToolCallRequested(Event):
    """The model asked for a tool to run."""

    type = "tool.call.requested"
    call_id: str
    tool: str
    arguments: dict[str, Any]
    subtask_id: str | None = None


class ToolCallApproved(Event):
    """A tool call may run."""

    type = "tool.call.approved"
    call_id: str
    by: Actor
    remember_for_session: bool = False


class ToolCallDenied(Event):
    """A tool call was refused; the reason goes back to the model."""

    type = "tool.call.denied"
    call_id: str
    by: Actor
    reason: str = ""


class ToolCallCompleted(Event):
    """A tool call finished, well or badly."""

    type = "tool.call.completed"
    call_id: str
    result: str = Field(description="What the model sees (possibly cut).")
    is_error: bool = False
    duration_ms: float = Field(ge=0)
    full_output: BlobHash | None = Field(
        default=None, description="The uncut output when the result was cut."
    )


class ToolCallInterrupted(Event):
    """A requested tool call never finished (the process died); it is not re-run."""

    type = "tool.call.interrupted"
    call_id: str
    reason: str = ""


class DoomLoopDetected(Event):
    """The model repeated the same call; it was told and shown the earlier result."""

    type = "doom.loop.detected"
    call_id: str
    tool: str
    arguments: dict[str, Any]
    repeats: int = Field(ge=2)


class TurnCancelled(Event):
    """The user stopped the current model call or tool."""

    type = "turn.cancelled"
    reason: str = ""


class UserQuestionAsked(Event):
    """The model asked the user something (the ask_user tool)."""

    type = "user.question.asked"
    question_id: str
    question: str


class UserQuestionAnswered(Event):
    """The user's answer to a question."""

    type = "user.question.answered"
    question_id: str
    answer: str


# --- files -----------------------------------------------------------------


class FileSnapshotted(Event):
    """A file's content was saved before a change touched it."""

    type = "file.snapshotted"
    path: str = Field(description="Path relative to the workspace.")
    before: BlobHash | None = Field(description="None when the file did not exist.")


class FileChanged(Event):
    """A file in the workspace was created, modified, deleted or renamed."""

    type = "file.changed"
    change_id: str
    path: str
    kind: ChangeKind
    before: BlobHash | None = None
    after: BlobHash | None = None
    new_path: str | None = Field(default=None, description="Target of a rename.")
    subtask_id: str | None = None
    cause: str = Field(default="tool", description="tool, shell or undo.")


class FileRead(Event):
    """The model was shown a file's content (the stale-file guard compares to it)."""

    type = "file.read"
    path: str = Field(description="Path relative to the workspace.")
    digest: str = Field(description="sha256 of the file's bytes when it was read.")


class ChangeReverted(Event):
    """A change was undone by restoring its before-state."""

    type = "change.reverted"
    change_id: str
    forced: bool = False


# --- autonomous tasks --------------------------------------------------------


class TaskCreated(Event):
    """An autonomous task was given its goal."""

    type = "task.created"
    goal: str
    workspace: str
    process: str | None = None
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="The run's settings (limits, models per role, policies), "
        "so a replay decides with what the run decided with.",
    )


class AgentStarted(Event):
    """An agent loop began on its own stream: a subtask attempt or a delegate."""

    type = "agent.started"
    task_id: str = Field(description="The task stream this agent works for.")
    subtask_id: str
    attempt: int = Field(default=1, ge=1)
    role: str = Field(default="executor", description="The model role it runs as.")
    model: str = ""
    workspace: str
    brief: str = Field(description="What the agent was told to do.")
    parent_stream: str | None = Field(
        default=None, description="The stream of the agent that delegated this one."
    )


class AgentFinished(Event):
    """An agent loop ended: ``answered``, ``loop_limit``, ``failed`` or
    ``cancelled``."""

    type = "agent.finished"
    status: str
    answer: str = ""


class TaskStarted(Event):
    """A task began executing."""

    type = "task.started"


class PlanProposed(Event):
    """The planner's dependency graph of subtasks."""

    type = "plan.proposed"
    subtasks: list[PlannedSubtask]
    repairs: list[str] = Field(
        default_factory=list, description="What Loom fixed in the planner's answer."
    )


class SubtaskStarted(Event):
    """A subtask began (or began again)."""

    type = "subtask.started"
    subtask_id: str
    attempt: int = Field(default=1, ge=1)
    agent_stream: str | None = Field(
        default=None, description="The stream the attempt's agent loop runs on."
    )
    model: str = Field(default="", description="The executor model of the attempt.")


class SubtaskCompleted(Event):
    """A subtask passed verification."""

    type = "subtask.completed"
    subtask_id: str
    summary: str = ""


class SubtaskFailed(Event):
    """A subtask failed (execution or verification)."""

    type = "subtask.failed"
    subtask_id: str
    reason: str


class SubtaskRetried(Event):
    """A failed subtask will run again with feedback."""

    type = "subtask.retried"
    subtask_id: str
    attempt: int = Field(ge=2)
    feedback: str = ""


class VerificationRecorded(Event):
    """A verifier's verdict on a subtask."""

    type = "verification.recorded"
    subtask_id: str
    tier: int = Field(ge=1, le=3)
    verifier: str = Field(description="The verifier model, or 'deterministic'.")
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    attempt: int = Field(default=1, ge=1)
    vote: str | None = Field(
        default=None, description="For a tier-3 vote: which voter (model and lens)."
    )


class Escalated(Event):
    """A subtask moved to a stronger model role."""

    type = "subtask.escalated"
    subtask_id: str
    to_model: str


class Replanned(Event):
    """The remaining work was planned again."""

    type = "plan.replanned"
    reason: str
    subtasks: list[PlannedSubtask]


class UserSteered(Event):
    """The user redirected a running task."""

    type = "user.steered"
    instruction: str


class FeedbackGiven(Event):
    """The user rated or commented on a result."""

    type = "feedback.given"
    text: str
    subtask_id: str | None = None


class ApprovalRequested(Event):
    """An action needs a human's approval before it runs."""

    type = "approval.requested"
    approval_id: str
    call_id: str | None = None
    description: str


class ApprovalGranted(Event):
    """A human approved a pending action."""

    type = "approval.granted"
    approval_id: str
    by: str = "user"


class ApprovalRefused(Event):
    """A paused action was refused."""

    type = "approval.refused"
    approval_id: str
    by: str = "user"
    reason: str = ""


class PatternLearned(Event):
    """The extractor recorded a fact or pattern worth remembering."""

    type = "learning.pattern.learned"
    kind: str = Field(description="fact or pattern.")
    text: str
    subtask_id: str | None = None


class LearningReset(Event):
    """Everything learned so far is to be forgotten by the learning view."""

    type = "learning.reset"


class WorkspaceSurveyed(Event):
    """The workspace overview a turn's prompt was built with (recorded when it
    changes, so a replay builds the same prompt without reading the disk)."""

    type = "workspace.surveyed"
    summary: str


class TokenizerCalibrated(Event):
    """The model's own token counts of the prompt's fixed texts, which fitted
    the token estimate (recorded so a replay budgets the same way)."""

    type = "tokenizer.calibrated"
    counts: list[int]


class ContextTrimmed(Event):
    """Turns left the model's context window (they stay recallable)."""

    type = "context.trimmed"
    turns: list[int] = Field(description="Numbers of the turns that left the window.")


class TodoItem(_Value):
    """One entry of a session's or task's to-do list."""

    id: str
    text: str
    status: Literal["pending", "in_progress", "done", "cancelled"] = "pending"


class TodoListUpdated(Event):
    """The to-do list as it now stands (the whole list, so a fold is trivial)."""

    type = "todo.list.updated"
    items: list[TodoItem]


class TaskCancelRequested(Event):
    """Someone asked a running task to stop."""

    type = "task.cancel.requested"
    reason: str = ""


class TaskCompleted(Event):
    """A task reached its goal."""

    type = "task.completed"
    summary: str = ""


class TaskFailed(Event):
    """A task gave up."""

    type = "task.failed"
    reason: str


class TaskCancelled(Event):
    """A task stopped because it was asked to."""

    type = "task.cancelled"
    reason: str = ""
