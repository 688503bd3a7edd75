"""The one catalog of user-facing text, keyed by message id, English and Simplified Chinese side by side.

`t(key, lang, **kw)` formats a message; `language_of(code)` maps Telegram's `language_code` to a
catalog language. No handler holds a user-facing string of its own.
"""

from __future__ import annotations

from typing import Final

#: Catalog languages; the first is the fallback.
LANGUAGES: Final = ("en", "zh")

CATALOG: Final[dict[str, dict[str, str]]] = {
    # --- /start, /help -------------------------------------------------------------------------
    "help": {
        "en": (
            "Hi! I turn a photo into a talking video.\n\n"
            "1. Send a photo with a face (as a photo or as an image file).\n"
            "2. Send a voice note, an audio file, a video or round video, or just type what the "
            "photo should say.\n"
            "You can also send the voice first and the photo second, or put the words in the "
            "photo's caption. Reply to an earlier photo to use it again.\n\n"
            "/voice — choose the voice that reads typed text\n"
            "/style — choose how the photo performs and how much it moves\n"
            "/quota — videos left today\n"
            "/cancel — cancel a waiting video\n"
            "/privacy — what I store and for how long\n"
            "/forget — delete your photos, recordings, texts, videos and settings"
        ),
        "zh": (
            "你好！我能把照片变成会说话的视频。\n\n"
            "1. 发送一张有人脸的照片（照片或图片文件均可）。\n"
            "2. 发送语音、音频文件、视频或圆形视频，或者直接输入照片要说的话。\n"
            "也可以先发语音再发照片，或把要说的话写在照片说明里。回复之前的照片即可再次使用它。\n\n"
            "/voice — 选择朗读文字的声音\n"
            "/style — 选择照片的表演风格和动作幅度\n"
            "/quota — 今天剩余的视频数\n"
            "/cancel — 取消排队中的视频\n"
            "/privacy — 我保存什么、保存多久\n"
            "/forget — 删除你的照片、录音、文字、视频和设置"
        ),
    },
    "unsupported": {
        "en": "Send me a photo with a face, then a voice note, an audio file or some text.",
        "zh": "请先发送一张有人脸的照片，再发送语音、音频文件或文字。",
    },
    # --- photo intake --------------------------------------------------------------------------
    "one_face": {
        "en": "1 face found — now send a voice note, an audio file, or type what the photo should say.",
        "zh": "找到 1 张人脸 —— 现在请发送语音、音频文件，或输入照片要说的话。",
    },
    "many_faces": {
        "en": "I found {count} faces. Who should speak? Pick a number:",
        "zh": "我找到了 {count} 张人脸。谁来说话？请选择编号：",
    },
    "face_button": {"en": "Face {number}", "zh": "第 {number} 张脸"},
    "chorus_button": {"en": "All together", "zh": "一起说"},
    "face_chosen": {
        "en": "Face {number} will speak — now send a voice note, an audio file, or type what it should say.",
        "zh": "第 {number} 张脸来说话 —— 现在请发送语音、音频文件，或输入要说的话。",
    },
    "chorus_chosen": {
        "en": "Everyone will speak together — now send a voice note, an audio file, or type the words.",
        "zh": "大家一起说 —— 现在请发送语音、音频文件，或输入要说的话。",
    },
    "button_unknown": {
        "en": "That button doesn't belong to anything here, so I did nothing.",
        "zh": "这个按钮不属于这里的任何内容，所以我没有执行任何操作。",
    },
    "photo_gone": {
        "en": "I no longer have that photo. Please send it again.",
        "zh": "那张照片已经不在了，请重新发送。",
    },
    "NO_FACE": {
        "en": "I couldn't find a face in this photo.",
        "zh": "这张照片里没有找到人脸。",
    },
    "FACE_TOO_SMALL": {
        "en": "The face in this photo is too small for me to animate.",
        "zh": "照片中的人脸太小，无法生成动画。",
    },
    "FACE_TURNED_AWAY": {
        "en": "The face in this photo is turned too far away from the camera.",
        "zh": "照片中的人脸侧得太厉害，没有正对镜头。",
    },
    "MOUTH_NOT_VISIBLE": {
        "en": "The mouth in this photo is hidden, so I can't make it talk.",
        "zh": "照片中的嘴被挡住了，所以无法让它说话。",
    },
    "FACE_NOT_FOUND": {
        "en": "That face is not in the photo any more. Please send the photo again.",
        "zh": "照片里没有这张脸了，请重新发送照片。",
    },
    "photo_tip": {
        "en": (
            "What works best: one person looking roughly at the camera, the face at least a fifth "
            "of the picture wide, the mouth clearly visible (no hand, mask or microphone in front)."
        ),
        "zh": (
            "效果最好的照片：人物大致面向镜头，脸部至少占画面宽度的五分之一，"
            "嘴巴清晰可见（没有手、口罩或麦克风遮挡）。"
        ),
    },
    "IMAGE_UNREADABLE": {
        "en": "I couldn't open this picture. Please send it as a normal photo (JPEG or PNG).",
        "zh": "无法打开这张图片，请以普通照片（JPEG 或 PNG）发送。",
    },
    "IMAGE_TOO_LARGE": {
        "en": "This picture has too many pixels for me. Please send a smaller photo.",
        "zh": "这张图片像素太多，请发送小一点的照片。",
    },
    "file_too_big": {
        "en": "This file is {size_mb:.0f} MB; I can download files up to {limit_mb} MB. "
        "Please send a shorter or smaller one.",
        "zh": ("这个文件有 {size_mb:.0f} MB，我只能下载 {limit_mb} MB 以内的文件。请发送更短或更小的文件。"),
    },
    "slow_down": {
        "en": "That's a lot of photos at once. Please wait {seconds} s, then send this one again.",
        "zh": "一次发送的照片太多了。请等 {seconds} 秒后再发送这张。",
    },
    "need_photo": {
        "en": "Got it! Now send the photo that should say this.",
        "zh": "收到！现在请发送要说这段话的照片。",
    },
    "text_cut": {
        "en": "Your text was longer than {limit} characters, so I cut it there.",
        "zh": "你的文字超过了 {limit} 个字符，我在那里截断了。",
    },
    "empty_text": {
        "en": "There is no text to speak. Type what the photo should say.",
        "zh": "没有可以朗读的文字，请输入照片要说的话。",
    },
    "queued": {
        "en": "Got it — you are number {position} in the queue.",
        "zh": "收到 —— 你在队列中排第 {position} 位。",
    },
    "queued_next": {
        "en": "Got it — your video is next.",
        "zh": "收到 —— 下一个就是你的视频。",
    },
    "already_queued": {
        "en": "I'm already working on that one.",
        "zh": "这个请求已经在处理中了。",
    },
    "rendering": {"en": "Making your video… {percent}%", "zh": "正在生成视频… {percent}%"},
    "uploading": {"en": "Sending the video…", "zh": "正在发送视频…"},
    "request_unreadable": {
        "en": (
            "Sorry, I can't read that request any more (it was queued before I was updated). "
            "It didn't count against your quota — please send it again."
        ),
        "zh": "抱歉，我已无法读取这个请求（它是在我更新之前排队的）。本次不计入你的次数，请重新发送。",
    },
    "upload_unsure": {
        "en": (
            "Sending your video timed out, so I can't tell whether Telegram got it. "
            "If no video arrived above, please send your request again; this one counted "
            "as one of today's videos."
        ),
        "zh": (
            "发送视频超时了，我无法确定 Telegram 是否收到。"
            "如果上面没有出现视频，请重新发送你的请求；这一次已计入今天的视频次数。"
        ),
    },
    "upload_failed": {
        "en": (
            "Telegram refused the video I made, so I couldn't send it. "
            "It didn't count against your quota — please try again."
        ),
        "zh": "Telegram 拒绝了我生成的视频，所以没能发送。本次不计入你的次数，请再试一次。",
    },
    "trimmed": {"en": "Trimmed to {seconds} s", "zh": "已截取为 {seconds} 秒"},
    "NO_SPEECH": {
        "en": "I couldn't hear any speech in that recording. Please record again, closer to the microphone.",
        "zh": "录音里没有听到说话声。请靠近麦克风重新录制。",
    },
    "AUDIO_UNREADABLE": {
        "en": (
            "I couldn't read that recording. "
            "Please send a voice note or a common audio file (OGG, MP3, M4A, WAV)."
        ),
        "zh": "无法读取这段录音。请发送语音或常见音频文件（OGG、MP3、M4A、WAV）。",
    },
    "AUDIO_TOO_LONG": {
        "en": "That recording is too long. Please keep it under {seconds} seconds.",
        "zh": "录音太长了，请控制在 {seconds} 秒以内。",
    },
    "quota_exceeded": {
        "en": "You've used all your videos for today. New ones at {time} ({timezone}).",
        "zh": "你今天的视频次数已用完。{time}（{timezone}）恢复。",
    },
    "too_many_queued": {
        "en": "You already have {limit} videos waiting. Wait for them, or /cancel one.",
        "zh": "你已有 {limit} 个视频在排队。请等待完成，或用 /cancel 取消一个。",
    },
    "queue_unavailable": {
        "en": "I couldn't queue that, please send it again in a minute.",
        "zh": "我没能把它加入队列，请过一分钟再发送一次。",
    },
    "queue_full": {
        "en": "I'm very busy right now. Please try again in a few minutes.",
        "zh": "我现在非常忙，请几分钟后再试。",
    },
    "banned": {
        "en": "Sorry, you can't make videos with this bot.",
        "zh": "抱歉，你无法使用此机器人制作视频。",
    },
    "internal_error": {
        "en": "Sorry, something went wrong on my side and I couldn't make that video. "
        "It didn't count against your quota — please try again.",
        "zh": "抱歉，我这边出了问题，没能生成这个视频。本次不计入你的次数，请再试一次。",
    },
    "error": {
        "en": "Sorry, something went wrong. Please try again.",
        "zh": "抱歉，出了点问题，请再试一次。",
    },
    # --- commands ------------------------------------------------------------------------------
    "quota": {
        "en": "Today: {used} of {limit} videos used, {left} left. Resets at {time} ({timezone}).",
        "zh": "今天：已用 {used}/{limit} 个视频，剩余 {left} 个。{time}（{timezone}）重置。",
    },
    "cancelled": {
        "en": "Cancelled your video. It didn't count against your quota.",
        "zh": "已取消你的视频，不计入你的次数。",
    },
    "nothing_to_cancel": {
        "en": "You have no video waiting.",
        "zh": "你没有排队中的视频。",
    },
    "voice_menu": {
        "en": "Choose the voice that reads your typed text (now: {voice}):",
        "zh": "选择朗读文字的声音（当前：{voice}）：",
    },
    "voice_set": {"en": "Voice set: {voice}.", "zh": "已设置声音：{voice}。"},
    # --- /style (bot/style.py, bot/styles.py) ----------------------------------------------------
    "style_menu": {
        "en": (
            "How the person in your photos performs: {style}, {motion}.\n"
            "Tap a style and an amount of motion; I remember them for your next videos. "
            "A style's hashtag in a photo's caption (#natural, #calm, #lively, #serious, "
            "#cheerful) sets the style of that photo's videos only."
        ),
        "zh": (
            "你照片中的人物表演方式：{style}，{motion}。\n"
            "点选一种风格和动作幅度，我会在你之后的视频中沿用。"
            "在照片说明里写上风格的话题标签（#自然、#平静、#活泼、#严肃、#开朗，英文标签也可以），"
            "只会改变这张照片的视频的风格。"
        ),
    },
    "style_set": {
        "en": "Saved for your next videos: {style}, {motion}.",
        "zh": "已保存，之后的视频将使用：{style}，{motion}。",
    },
    "style_for_photo": {
        "en": "This photo's videos will use the style {style}; your /style choice stays as it is.",
        "zh": "这张照片的视频将使用风格：{style}；你在 /style 中的选择保持不变。",
    },
    "style_natural": {"en": "Natural", "zh": "自然"},
    "style_calm": {"en": "Calm", "zh": "平静"},
    "style_lively": {"en": "Lively", "zh": "活泼"},
    "style_serious": {"en": "Serious", "zh": "严肃"},
    "style_cheerful": {"en": "Cheerful", "zh": "开朗"},
    "motion_less": {"en": "less motion", "zh": "少动一点"},
    "motion_normal": {"en": "normal motion", "zh": "正常动作"},
    "motion_more": {"en": "more motion", "zh": "多动一点"},
    "privacy": {
        "en": (
            "What I store:\n"
            "• your Telegram id, username, language, chosen voice and style, and daily video count;\n"
            "• for the photos, recordings and text you send and the videos I make: Telegram's file "
            "ids, the faces found in each photo, a style named in its caption and the words to "
            "speak, for up to {days} days. The files stay with Telegram: I download a photo into "
            "memory to find its faces, and your files while I make your video, and keep no copy;\n"
            "• the last photo in each chat is remembered for {minutes} minutes for your next message.\n"
            "{speech}\n"
            "/forget deletes your photos, recordings, texts, videos and settings at once; it keeps "
            "only a ban, your last two days' video counts and the paid videos you have left, "
            "without your name or language."
        ),
        "zh": (
            "我保存的内容：\n"
            "• 你的 Telegram ID、用户名、语言、所选声音和风格，以及每日视频次数；\n"
            "• 你发送的照片、录音、文字以及我生成的视频：Telegram 文件 ID、照片中找到的人脸、"
            "照片说明里指定的风格和要朗读的文字，"
            "最多保存 {days} 天。文件本身留在 Telegram：我把照片下载到内存中查找人脸，"
            "生成视频时下载你的文件，不保留副本；\n"
            "• 每个聊天中的最后一张照片会保留 {minutes} 分钟，以便用于你的下一条消息。\n"
            "{speech}\n"
            "/forget 可立即删除你的照片、录音、文字、视频和设置；"
            "只保留封禁状态、最近两天的视频次数和你剩余的付费视频，不含你的名字和语言。"
        ),
    },
    "privacy_tts_online": {
        "en": (
            "Text you type for me to speak is sent to Microsoft's text-to-speech service (edge-tts) "
            "to be read aloud."
        ),
        "zh": "你输入让我朗读的文字会发送到微软的语音合成服务（edge-tts）进行朗读。",
    },
    "privacy_tts_offline": {
        "en": "Text you type for me to speak is read aloud on this server; it is not sent anywhere.",
        "zh": "你输入让我朗读的文字在本服务器上朗读，不会发送到任何地方。",
    },
    "forget_confirm": {
        "en": ("Delete your photos, recordings, texts, videos and settings? This can't be undone."),
        "zh": "删除你的照片、录音、文字、视频和设置？此操作无法撤销。",
    },
    "forget_yes": {"en": "Yes, delete it", "zh": "是的，删除"},
    "forget_no": {"en": "No, keep it", "zh": "不，保留"},
    "forgotten": {
        "en": "Done — I deleted your photos, recordings, texts, videos and settings.",
        "zh": "完成 —— 已删除你的照片、录音、文字、视频和设置。",
    },
    "forget_kept": {"en": "OK, nothing was deleted.", "zh": "好的，没有删除任何内容。"},
    # --- admin ---------------------------------------------------------------------------------
    "admin_only": {"en": "This command is for admins.", "zh": "此命令仅限管理员使用。"},
    "stats": {"en": "Queue and usage:\n{lines}", "zh": "队列与使用情况：\n{lines}"},
    "grant_usage": {"en": "Usage: /grant USER_ID N", "zh": "用法：/grant 用户ID 数量"},
    "ban_usage": {"en": "Usage: /{command} USER_ID", "zh": "用法：/{command} 用户ID"},
    "granted": {
        "en": "Granted {count} extra videos today to {user}.",
        "zh": "已为 {user} 增加今天的 {count} 个视频。",
    },
    "user_banned": {"en": "User {user} is banned.", "zh": "用户 {user} 已被封禁。"},
    "user_unbanned": {"en": "User {user} is unbanned.", "zh": "用户 {user} 已解除封禁。"},
    # --- command menu (setMyCommands) ----------------------------------------------------------
    "cmd_start": {"en": "Start and see how it works", "zh": "开始并查看用法"},
    "cmd_help": {"en": "How to use the bot", "zh": "使用说明"},
    "cmd_voice": {"en": "Choose the voice for typed text", "zh": "选择朗读文字的声音"},
    "cmd_style": {"en": "Choose how the photo performs", "zh": "选择照片的表演风格"},
    "cmd_quota": {"en": "Videos left today", "zh": "今天剩余的视频数"},
    "cmd_cancel": {"en": "Cancel a waiting video", "zh": "取消排队中的视频"},
    "cmd_privacy": {"en": "What is stored and for how long", "zh": "保存什么、保存多久"},
    "cmd_forget": {"en": "Delete everything stored about you", "zh": "删除关于你的一切"},
    "cmd_scene": {"en": "Reply to a photo: start a group scene", "zh": "回复一张照片：开始群组场景"},
    "cmd_say": {"en": "Reply to a scene: your line as text", "zh": "回复场景：用文字说出你的台词"},
    "cmd_render": {"en": "Make the scene's video", "zh": "生成场景视频"},
    "cmd_stats": {"en": "Queue and usage statistics", "zh": "队列与使用统计"},
    "cmd_grant": {"en": "Grant extra videos: USER N", "zh": "增加视频次数：用户 数量"},
    "cmd_ban": {"en": "Ban a user: USER", "zh": "封禁用户：用户"},
    "cmd_unban": {"en": "Unban a user: USER", "zh": "解除封禁：用户"},
    # --- group scenes ------------------------------------------------------------------------
    "scene_need_photo": {
        "en": "Reply /scene to a photo (or send a photo with /scene as its caption) to start a scene.",
        "zh": "用 /scene 回复一张照片（或发送配文为 /scene 的照片）来开始一个场景。",
    },
    "scene_private": {
        "en": "Scenes are for groups: add me to a group, then reply /scene to a group photo there.",
        "zh": "场景只能在群组里使用：把我加入群组，然后在群里用 /scene 回复一张合影。",
    },
    "scene_title": {"en": "🎬 Scene by {creator}", "zh": "🎬 {creator} 发起的场景"},
    "scene_face_free": {"en": "{number} — free", "zh": "{number} —— 空缺"},
    "scene_face_waiting": {"en": "{number} — {name}, no line yet", "zh": "{number} —— {name}，还没录"},
    "scene_face_ready": {"en": "{number} — {name} ✓ {seconds} s", "zh": "{number} —— {name} ✓ {seconds} 秒"},
    "scene_unusable": {
        "en": "Can't use {count} more face(s): {reasons}.",
        "zh": "另有 {count} 张脸无法使用：{reasons}。",
    },
    "reason_FACE_TOO_SMALL": {"en": "too small", "zh": "太小"},
    "reason_FACE_TURNED_AWAY": {"en": "turned away", "zh": "侧脸太多"},
    "reason_MOUTH_NOT_VISIBLE": {"en": "mouth hidden", "zh": "嘴被挡住"},
    "reason_other": {"en": "not clear enough", "zh": "不够清晰"},
    "scene_total": {"en": "Total: {total} s of {limit} s.", "zh": "总长：{total} 秒 / {limit} 秒。"},
    "scene_total_over": {
        "en": "Total: {total} s — over the {limit} s limit.",
        "zh": "总长：{total} 秒 —— 超过了 {limit} 秒的上限。",
    },
    "scene_how": {
        "en": (
            "Tap a number to take that face, then reply to this message with a voice note, an "
            "audio file or /say your words. {creator} presses Render when everyone is ready."
        ),
        "zh": (
            "点一个数字认领那张脸，然后回复这条消息：发送语音、音频文件，或 /say 加上要说的话。"
            "大家准备好后由 {creator} 点“生成”。"
        ),
    },
    "scene_rendering": {"en": "🎬 Rendering {count} line(s)…", "zh": "🎬 正在生成 {count} 段台词…"},
    "scene_expired_caption": {
        "en": "⌛ This scene expired after {minutes} minutes without activity.",
        "zh": "⌛ 这个场景已经 {minutes} 分钟没有动静，已过期。",
    },
    "scene_expired": {
        "en": (
            "⌛ Scene closed: nobody touched it for {minutes} minutes. "
            "Reply /scene to the photo to start again."
        ),
        "zh": "⌛ 场景已关闭：{minutes} 分钟内没有人参与。用 /scene 回复照片可以重新开始。",
    },
    "scene_claim_button": {"en": "I'm {number}", "zh": "我是 {number}"},
    "scene_render_button": {"en": "🎬 Render", "zh": "🎬 生成"},
    "scene_render_first_button": {"en": "🎬 Render the first {limit} s", "zh": "🎬 生成前 {limit} 秒"},
    "scene_claimed": {
        "en": "You are face {number}. Now reply to the scene with your line.",
        "zh": "你是第 {number} 张脸。现在回复场景消息录下你的台词。",
    },
    "scene_released": {"en": "You let face {number} go.", "zh": "你放弃了第 {number} 张脸。"},
    "scene_face_taken": {
        "en": "Face {number} is already {name}'s.",
        "zh": "第 {number} 张脸已经被 {name} 认领了。",
    },
    "scene_need_face": {
        "en": "Tap a number on the scene first to choose your face, then record your line.",
        "zh": "请先在场景消息上点一个数字选择你的脸，再录台词。",
    },
    "scene_closed": {"en": "This scene is closed.", "zh": "这个场景已经关闭了。"},
    "scene_only_creator": {
        "en": "Only {creator}, who started this scene, can render it.",
        "zh": "只有发起场景的 {creator} 才能生成视频。",
    },
    "scene_no_lines": {
        "en": "Nobody has recorded a line yet.",
        "zh": "还没有人录台词。",
    },
    "scene_too_long": {
        "en": (
            "The lines add up to {total} s, over the {limit} s limit. I can render the first "
            "{limit} s, or someone can record a shorter line."
        ),
        "zh": "台词总长 {total} 秒，超过了 {limit} 秒的上限。我可以只生成前 {limit} 秒，或者请有人录短一点。",
    },
    "scene_none": {
        "en": "Reply to a scene message, or start one by replying /scene to a photo.",
        "zh": "请回复一条场景消息，或用 /scene 回复照片来开始一个场景。",
    },
    "scene_say_usage": {
        "en": "Write your line after the command, e.g. /say Hello everyone!",
        "zh": "请在命令后写上台词，例如：/say 大家好！",
    },
    "scene_unknown_length": {"en": "?", "zh": "?"},
    # --- Telegram Stars ------------------------------------------------------------------------
    "cmd_buy": {"en": "Buy more videos with Telegram Stars", "zh": "用 Telegram 星星购买更多视频"},
    "cmd_paysupport": {"en": "Help with a payment", "zh": "付款帮助"},
    "cmd_refund": {"en": "Refund a Stars payment: USER CHARGE_ID", "zh": "退还星星付款：用户 付款ID"},
    "buy_off": {
        "en": "This bot doesn't sell videos. You get your free videos every day.",
        "zh": "此机器人不出售视频。你每天都有免费的视频次数。",
    },
    "buy_menu": {
        "en": (
            "Buy more videos with Telegram Stars. Paid videos never expire and are used only after "
            "your free videos of the day. Choose a pack:"
        ),
        "zh": "用 Telegram 星星购买更多视频。付费视频永不过期，只在当天的免费次数用完后才使用。请选择套餐：",
    },
    "buy_pack_button": {"en": "{videos} videos — {stars} ⭐", "zh": "{videos} 个视频 —— {stars} ⭐"},
    "buy_more_button": {"en": "⭐ Buy more", "zh": "⭐ 购买更多"},
    "pack_gone": {
        "en": "That pack is no longer offered. /buy shows the current ones.",
        "zh": "该套餐已不再提供。/buy 可查看当前套餐。",
    },
    "invoice_title": {"en": "{videos} talking videos", "zh": "{videos} 个说话视频"},
    "invoice_description": {
        "en": (
            "{videos} extra talking-photo videos. They never expire and are used after your free "
            "videos of the day; a video that fails gives its credit back."
        ),
        "zh": "{videos} 个额外的说话照片视频。永不过期，在当天免费次数用完后使用；生成失败的视频会退回次数。",
    },
    "checkout_banned": {
        "en": "Sorry, you can't buy videos with this bot.",
        "zh": "抱歉，你无法在此机器人购买视频。",
    },
    "checkout_pack_gone": {
        "en": "This pack is no longer offered, so nothing was charged. Send /buy for the current ones.",
        "zh": "该套餐已不再提供，因此没有扣款。发送 /buy 查看当前套餐。",
    },
    "paid": {
        "en": (
            "Thank you! {videos} videos added. You have {balance} paid videos; they are used after "
            "your free videos of the day."
        ),
        "zh": "谢谢！已添加 {videos} 个视频。你现在有 {balance} 个付费视频，会在当天免费次数用完后使用。",
    },
    "quota_credits": {
        "en": "Paid videos left: {credits} (used after the free ones, never expire).",
        "zh": "剩余付费视频：{credits} 个（在免费次数之后使用，永不过期）。",
    },
    "payment_refunded": {
        "en": "Your payment of {stars} ⭐ was refunded; {revoked} unused paid videos were removed.",
        "zh": "你支付的 {stars} ⭐ 已退款；已移除 {revoked} 个未使用的付费视频。",
    },
    "paysupport": {
        "en": (
            "Payment help. A video I fail to make gives back the paid video it used, by itself, "
            "and so does one you /cancel while it waits. For anything else, or to ask for a refund, "
            "contact {contact} and quote the payment id.\n\nYour payments:\n{payments}"
        ),
        "zh": (
            "付款帮助。我没能生成的视频会自动退回它用掉的付费次数，排队中用 /cancel 取消的也一样。"
            "其他问题或申请退款，请联系 {contact} 并提供付款 ID。\n\n你的付款：\n{payments}"
        ),
    },
    "paysupport_operator": {"en": "the bot's operator", "zh": "机器人的运营者"},
    "paysupport_none": {"en": "none yet.", "zh": "暂无。"},
    "paysupport_line": {
        "en": "{date}: {stars} ⭐ for {videos} videos — id {charge}",
        "zh": "{date}：{stars} ⭐ 购买 {videos} 个视频 —— ID {charge}",
    },
    "paysupport_line_refunded": {
        "en": "{date}: {stars} ⭐ for {videos} videos — id {charge} (refunded)",
        "zh": "{date}：{stars} ⭐ 购买 {videos} 个视频 —— ID {charge}（已退款）",
    },
    "privacy_payments": {
        "en": (
            "If you buy videos with Telegram Stars, I keep each payment's Telegram id, pack, Stars "
            "and date, to handle refunds and disputes. /forget keeps these records but "
            "removes your Telegram id from them; your unused paid videos stay yours (a count)."
        ),
        "zh": (
            "如果你用 Telegram 星星购买视频，我会保存每笔付款的 Telegram 付款 ID、"
            "套餐、星星数和日期，用于处理退款和争议。/forget 会保留这些记录，但删除其中你的 Telegram ID；"
            "你未使用的付费视频仍归你（仅一个数字）。"
        ),
    },
    "refund_usage": {"en": "Usage: /refund USER_ID CHARGE_ID", "zh": "用法：/refund 用户ID 付款ID"},
    "refund_unknown": {
        "en": "No payment {charge} by user {user}.",
        "zh": "找不到用户 {user} 的付款 {charge}。",
    },
    "refund_already": {"en": "Payment {charge} was refunded already.", "zh": "付款 {charge} 已经退款。"},
    "refund_failed": {"en": "Telegram refused the refund: {error}", "zh": "Telegram 拒绝了退款：{error}"},
    "refund_done": {
        "en": (
            "Refunded {stars} ⭐ to user {user}. Removed {revoked} unused videos; {spent} of the pack "
            "had been used already and stay used (the user keeps those videos)."
        ),
        "zh": (
            "已向用户 {user} 退还 {stars} ⭐。已移除 {revoked} 个未使用的视频；"
            "该套餐中已使用的 {spent} 个保持已用（用户保留这些视频）。"
        ),
    },
}


def language_of(language_code: str | None) -> str:
    """Maps Telegram's `language_code` to a catalog language: zh* → zh, anything else → en."""
    if language_code and language_code.lower().startswith("zh"):
        return "zh"
    return "en"


def t(key: str, lang: str, /, **kw: object) -> str:
    """Formats the catalog message `key` in `lang`, falling back to English."""
    entry = CATALOG[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**kw) if kw else text
