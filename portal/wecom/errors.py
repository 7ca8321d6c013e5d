"""WeCom error codes and the Chinese messages shown for them (branch on errcode, never on errmsg)."""

from __future__ import annotations

BUSY = -1
BAD_SECRET = 40001
INVALID_TOKEN = 40014
BAD_OAUTH_CODE = 40029
TOKEN_EXPIRED = 42001
RATE_LIMITED = 45009
TOO_MANY_CONCURRENT = 45033
ALL_RECIPIENTS_INVALID = 81013
NO_RECIPIENTS = 82001

# A fresh token cures these; anything else would fail again with a new one.
TOKEN_ERRORS = frozenset({INVALID_TOKEN, TOKEN_EXPIRED})
# Back off and try later; retrying at once only makes it worse.
RATE_LIMIT_ERRORS = frozenset({RATE_LIMITED, TOO_MANY_CONCURRENT})

MESSAGES: dict[int, str] = {
    BUSY: "企业微信系统繁忙，请稍后重试。",
    BAD_SECRET: "企业微信应用凭证（Secret）无效或应用已停用，请联系信息科检查企业微信配置。",
    40013: "企业ID（CorpID）无效，请联系信息科检查企业微信配置。",
    INVALID_TOKEN: "企业微信访问令牌无效。",
    BAD_OAUTH_CODE: "企业微信登录凭证无效或已被使用，请从企业微信重新进入。",
    40056: "企业微信应用ID（AgentID）无效，请联系信息科检查企业微信配置。",
    41001: "缺少企业微信访问令牌。",
    TOKEN_EXPIRED: "企业微信访问令牌已过期。",
    RATE_LIMITED: "企业微信接口调用过于频繁，请稍后再试。",
    TOO_MANY_CONCURRENT: "企业微信接口并发调用过多，请稍后再试。",
    48002: "企业微信应用没有调用该接口的权限，请联系信息科在企业微信管理后台开通。",
    50001: "企业微信登录的回调域名不受信任，请联系信息科在企业微信管理后台配置可信域名。",
    60011: "企业微信应用无权访问该成员，请联系信息科调整应用的可见范围。",
    60020: "本平台服务器的IP地址不在企业微信的可信IP列表中，请联系信息科配置。",
    ALL_RECIPIENTS_INVALID: "所有接收人都无效或不在企业微信应用的可见范围内，消息未发送。",
    NO_RECIPIENTS: "没有指定消息接收人，消息未发送。",
    301002: "企业微信访问令牌不属于本应用，请联系信息科检查企业微信配置。",
}

UNAVAILABLE = "暂时无法连接企业微信服务器，请稍后重试。"
NOT_MEMBER = "您不是本单位企业微信通讯录中的成员（或不在本应用的可见范围内），无法通过企业微信登录。"


def message_for(errcode: int) -> str:
    """The Chinese message for an errcode; unknown codes still say which code it was."""
    return MESSAGES.get(errcode, f"企业微信接口返回错误（错误码 {errcode}），请稍后重试；如反复出现，请联系信息科。")
