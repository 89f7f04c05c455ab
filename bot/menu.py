"""The custom menu (自定义菜单): CLICK keys the bot answers, canned texts, and the menu definition.

CLICK pushes carry the menu item's `key` in EventKey
(https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Custom_Menu_Event_Push.html);
the menu itself is created with POST /cgi-bin/menu/create using `menu_definition()`.
"""

from __future__ import annotations

from typing import Any

MY_APPEALS = "MY_APPEALS"
MY_POINTS = "MY_POINTS"
MY_TASKS = "MY_TASKS"
HELP = "HELP"
BIND = "BIND"
OPEN_BALLOTS = "OPEN_BALLOTS"
GATHERING = "GATHERING"  # typed only: the proposals where I live that are gathering supports
CLICK_KEYS = (MY_APPEALS, MY_POINTS, HELP, BIND, OPEN_BALLOTS)
# "微实事：<想法>" proposes a micro-project for the resident's building (answered inline).
PROPOSAL_PREFIX = "微实事"
# "支持 <编号>" supports a proposal that is gathering supports (its number as the 征集 list shows it).
SUPPORT_PREFIX = "支持"

# Typed equivalents of the menu keys, so residents without the menu (or on old clients) can ask in words.
TEXT_COMMANDS: dict[str, str] = {
    "帮助": HELP,
    "help": HELP,
    "?": HELP,
    "？": HELP,
    "菜单": HELP,
    "我的诉求": MY_APPEALS,
    "查询诉求": MY_APPEALS,
    "我的积分": MY_POINTS,
    "积分": MY_POINTS,
    "我的任务": MY_TASKS,
    "我的班次": MY_TASKS,
    "绑定": BIND,
    "绑定住址": BIND,
    "绑定小区": BIND,
    "投票": OPEN_BALLOTS,
    "居民投票": OPEN_BALLOTS,
    "微实事投票": OPEN_BALLOTS,
    "征集支持": GATHERING,
    "支持提议": GATHERING,
}

WELCOME = (
    "欢迎关注红管家！\n"
    "有问题直接发文字、语音或图片给我，我们会登记成诉求并转给网格员或相关部门处理，办理进度会通知您。\n"
    "回复“绑定”选择您住的小区和楼栋，回复“帮助”查看更多。"
)

HELP_TEXT = (
    "红管家使用说明：\n"
    "1. 直接发文字或语音描述问题（如“3幢楼道灯坏了”），即登记为诉求并回复编号；\n"
    "2. 登记后发图片，会补充到您最近的诉求；\n"
    "3. 发送位置：首次会按位置绑定所在网格，也会作为问题地点；回复“绑定”可选择小区和楼栋；\n"
    "4. 回复“我的诉求”查看办理进度，“我的积分”查看志愿积分和排名，“我的任务”查看志愿岗位和班次；\n"
    "5. 回复“投票”查看正在进行的微实事投票，发“微实事：想法”为本楼栋提一个微实事项目；\n"
    "6. 回复“征集支持”查看正在征集居民支持的提议，发“支持 编号”支持其中一个。"
)

VOICE_NOT_RECOGNISED = "抱歉，没能识别您的语音。请用文字描述一下您的问题，我们马上登记。"
UNSUPPORTED = "收到。目前我能处理文字、语音、图片和位置消息，请用文字描述您的问题。"
RETRY_LATER = "收到，正在处理中，稍后给您回复。"
# The passive reply to free text: intake runs in the worker, which then sends the appeal number, the unit
# and the deadline (or its question, or the answer) as a customer-service message
# (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html).
ACK_QUEUED = "收到，正在为您登记转办，稍后告知编号和承办单位。"


def menu_definition(miniapp_appid: str | None = None, miniapp_page: str = "pages/index/index") -> dict[str, Any]:
    """The menu for /cgi-bin/menu/create: 我的诉求 / 我的积分 / 服务 (帮助, 绑定住址, 居民投票, mini-program).

    A sub-menu holds at most 5 items (https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html).
    """
    service: list[dict[str, Any]] = [
        {"type": "click", "name": "使用帮助", "key": HELP},
        {"type": "click", "name": "绑定住址", "key": BIND},
        {"type": "click", "name": "居民投票", "key": OPEN_BALLOTS},
    ]
    if miniapp_appid:
        service.append(
            {"type": "miniprogram", "name": "红管家小程序", "url": "https://mp.weixin.qq.com",
             "appid": miniapp_appid, "pagepath": miniapp_page}
        )  # fmt: skip
    return {
        "button": [
            {"type": "click", "name": "我的诉求", "key": MY_APPEALS},
            {"type": "click", "name": "我的积分", "key": MY_POINTS},
            {"name": "服务", "sub_button": service},
        ]
    }
