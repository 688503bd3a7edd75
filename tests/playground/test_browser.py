"""The playground in a real browser: Debian's Chromium, headless, drives the page while the real bot
(`python -m playground` starts `python -m bot run`) answers through the emulator.

Chromium comes from Debian's packages (`apt-get install chromium chromium-driver`, done by .ci/run);
without it these tests fail, they never skip. Set PLAYGROUND_SCREENSHOT=path to save the finished
chat of the first test as a PNG (docs/playground.png is made that way).
"""

from __future__ import annotations

import base64
import io
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot.texts import t
from playground.server import UNKNOWN_METHOD
from tests.e2e.media import astronaut_portrait, speech_wav, two_astronauts
from tests.playground.process import PlaygroundProcess

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Seconds the bot may take to start (imports, migrations, render pool) on a loaded CI machine.
BOT_START_S = 150
#: Seconds one render of a short clip may take on a loaded CI machine.
RENDER_S = 240

pytestmark = pytest.mark.slow

Browser = Callable[..., WebDriver]


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m playground` on a free port, as `make playground` runs it; yields the page's URL."""
    data_dir = tmp_path_factory.mktemp("playground")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OUTPUT_MAX_SIDE": "480"}  # small, quick renders
    playground = PlaygroundProcess(["--port", "0", "--data-dir", str(data_dir)], cwd=REPO, env=env)
    try:
        yield playground.url() + "/"
    finally:
        stderr = playground.stop()
    # The bot called only methods the emulator knows, and never failed.
    assert UNKNOWN_METHOD not in stderr, stderr
    log = (data_dir / "bot.log").read_text()
    assert "Traceback" not in log, log[-4000:]
    assert playground.returncode == 0, stderr


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Starts headless Debian Chromium with extra flags; quits every browser it started."""
    drivers: list[WebDriver] = []

    def start(*flags: str) -> WebDriver:
        if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            pytest.fail(
                "the browser tests need Debian's Chromium: apt-get install -y chromium chromium-driver "
                "(.ci/run installs them)",
                pytrace=False,
            )
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            "--lang=en-US",
            "--autoplay-policy=no-user-gesture-required",
            *flags,
        ):
            options.add_argument(flag)
        # The driver's path is given, so selenium-manager never tries to download one.
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def wait(driver: WebDriver, seconds: float) -> WebDriverWait[WebDriver]:
    """Waits on a condition; the page redraws edited messages, so a vanished element means "again"."""
    return WebDriverWait(
        driver,
        seconds,
        poll_frequency=0.25,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def open_chat(driver: WebDriver, url: str, user_id: int) -> None:
    """Opens a member's private chat and waits until the bot polls the emulator."""
    driver.get(f"{url}?user={user_id}&chat=private")
    wait(driver, BOT_START_S).until(
        lambda d: d.find_element(By.ID, "bot-status").get_attribute("data-online") == "true"
    )


def bot_text(driver: WebDriver, text: str, seconds: float = 120) -> WebElement:
    """Waits for a bot message whose text or caption is exactly `text`."""

    def found(d: WebDriver) -> WebElement | bool:
        for node in d.find_elements(By.CSS_SELECTOR, ".msg.bot .text"):
            if node.text == text:
                return node
        return False

    return wait(driver, seconds).until(found)


def send_photo(driver: WebDriver, path: Path) -> None:
    """Picks a photo with the page's photo button."""
    driver.find_element(By.ID, "file-photo").send_keys(str(path))


def drop_file(driver: WebDriver, data: bytes, name: str, mime: str) -> None:
    """Drops a file on the chat, as dragging it from the desktop does."""
    driver.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], arguments[1], { type: arguments[2] }));
        const chat = document.getElementById("chat");
        const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
        chat.dispatchEvent(new DragEvent("dragover", init));
        chat.dispatchEvent(new DragEvent("drop", init));
        """,
        base64.b64encode(data).decode(),
        name,
        mime,
    )


def delivered_video(driver: WebDriver) -> WebElement:
    """Waits for the bot's video, then checks it lasts over a second and really plays."""
    video = wait(driver, RENDER_S).until(lambda d: d.find_element(By.CSS_SELECTOR, ".msg.bot video"))
    wait(driver, 30).until(lambda d: d.execute_script("return arguments[0].readyState >= 1", video))
    assert driver.execute_script("return arguments[0].duration", video) > 1.0
    driver.execute_script("arguments[0].muted = true; return arguments[0].play()", video)
    wait(driver, 30).until(lambda d: d.execute_script("return arguments[0].currentTime", video) > 0.5)
    assert driver.execute_script("return arguments[0].videoWidth", video) > 0  # frames were decoded
    return video


def test_a_photo_and_a_typed_line_come_back_as_a_video_that_plays(
    playground: str, browser: Browser, tmp_path: Path
) -> None:
    driver = browser()
    photo = tmp_path / "two_astronauts.jpg"
    photo.write_bytes(two_astronauts())
    open_chat(driver, playground, 1001)
    # The bot's command menu (setMyCommands) is what the text box suggests.
    wait(driver, 30).until(
        lambda d: (
            "/voice"
            in [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "#commands option")]
        )
    )

    send_photo(driver, photo)
    # Two faces: the bot shows them numbered, with a button for each.
    face_one = t("face_button", "en", number=1)
    faces = element_id(driver, ".msg.bot:has(button.kb)", 120)
    click_button(driver, faces, face_one)
    bot_text(driver, t("face_chosen", "en", number=1), 60)
    driver.find_element(By.ID, "text").send_keys("Hello from the playground, in a real browser.")
    driver.find_element(By.ID, "send").click()

    video = delivered_video(driver)
    screenshot = os.environ.get("PLAYGROUND_SCREENSHOT")
    if screenshot:
        driver.execute_script("arguments[0].pause(); arguments[0].currentTime = 1.0;", video)
        wait(driver, 10).until(lambda d: d.execute_script("return arguments[0].seeking === false", video))
        driver.set_window_size(1280, 1500)  # the numbered faces, the line and the video in one picture
        driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", video)
        driver.save_screenshot(screenshot)


def test_a_voice_note_recorded_from_the_microphone_comes_back_as_a_video(
    playground: str, browser: Browser, tmp_path: Path
) -> None:
    speech = tmp_path / "speech.wav"
    speech.write_bytes(speech_wav("Hello there, this photo can talk now."))
    driver = browser(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech}",
    )
    open_chat(driver, playground, 1002)

    drop_file(driver, astronaut_portrait(), "astronaut.jpg", "image/jpeg")
    bot_text(driver, t("one_face", "en"))
    mic = driver.find_element(By.ID, "mic")
    mic.click()
    wait(driver, 30).until(
        lambda d: float(d.find_element(By.ID, "mic-time").get_attribute("data-seconds") or 0) >= 3.5
    )
    mic.click()

    # The page uploaded the browser's recording; the bot got what Telegram delivers: OGG/Opus.
    audio = wait(driver, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, ".msg.mine audio"))
    with urllib.request.urlopen(audio.get_attribute("src"), timeout=10) as response:
        voice = response.read()
    with av.open(io.BytesIO(voice)) as container:
        stream = container.streams.audio[0]
        assert (container.format.name, stream.codec_context.name) == ("ogg", "opus")
        assert (stream.codec_context.sample_rate, stream.codec_context.channels) == (48000, 1)
        assert container.duration / 1_000_000 >= 3.0
    delivered_video(driver)


def element_id(driver: WebDriver, selector: str, seconds: float) -> str:
    """Waits for a message matching a CSS selector; returns its element id."""
    return wait(driver, seconds).until(
        lambda d: d.find_element(By.CSS_SELECTOR, selector).get_attribute("id")
    )


def click_button(driver: WebDriver, message_id: str, text: str) -> None:
    """Clicks an inline button of a message (looked up by its element id: edits redraw it)."""

    def clicked(d: WebDriver) -> bool:
        for button in d.find_elements(By.CSS_SELECTOR, f"#{message_id} button.kb"):
            if button.text == text:
                button.click()
                return True
        return False

    wait(driver, 60).until(clicked)


def reply(driver: WebDriver, message_id: str, text: str) -> None:
    """Replies to a message with text, as a long press → Reply does in Telegram."""
    driver.execute_script(
        "document.getElementById(arguments[0]).querySelector('.reply-btn').click()", message_id
    )
    driver.find_element(By.ID, "text").send_keys(text)
    driver.find_element(By.ID, "send").click()


def be(driver: WebDriver, name: str) -> None:
    """Switches the page to another member of the group."""
    Select(driver.find_element(By.ID, "member")).select_by_visible_text(name)


def text_of(driver: WebDriver, message_id: str) -> str:
    return driver.find_element(By.ID, message_id).text


def test_a_group_scene_two_members_claim_faces_say_lines_and_the_creator_renders(
    playground: str, browser: Browser, tmp_path: Path
) -> None:
    driver = browser()
    photo = tmp_path / "group.jpg"
    photo.write_bytes(two_astronauts())
    driver.get(f"{playground}?user=1001&chat=group")
    wait(driver, BOT_START_S).until(
        lambda d: d.find_element(By.ID, "bot-status").get_attribute("data-online") == "true"
    )
    send_photo(driver, photo)
    reply(driver, element_id(driver, ".msg.mine:has(img)", 30), "/scene")

    scene_id = element_id(driver, ".msg.bot:has(img)", 120)
    click_button(driver, scene_id, t("scene_claim_button", "en", number=1))
    wait(driver, 30).until(lambda d: "Alice" in text_of(d, scene_id))
    reply(driver, scene_id, "/say Hello, I am the first one.")

    be(driver, "Bob")
    click_button(driver, scene_id, t("scene_claim_button", "en", number=2))
    wait(driver, 30).until(lambda d: "Bob" in text_of(d, scene_id))
    reply(driver, scene_id, "/say And I am the second.")
    wait(driver, 60).until(lambda d: text_of(d, scene_id).count("✓") == 2)

    be(driver, "Alice")
    click_button(driver, scene_id, t("scene_render_button", "en"))
    delivered_video(driver)


def test_a_purchase_in_stars_from_buy_to_pay(playground: str, browser: Browser) -> None:
    driver = browser()
    open_chat(driver, playground, 1002)
    driver.find_element(By.ID, "text").send_keys("/buy")
    driver.find_element(By.ID, "send").click()
    menu = element_id(driver, ".msg.bot:has(button.kb)", 60)
    click_button(driver, menu, t("buy_pack_button", "en", videos=10, stars=50))
    # The invoice: Telegram's app shows a Pay button; tapping it goes through pre-checkout.
    invoice = element_id(driver, ".msg.bot:has(.invoice)", 60)
    click_button(driver, invoice, "Pay 50 ⭐")
    bot_text(driver, t("paid", "en", videos=10, balance=10), 60)
